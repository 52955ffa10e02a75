// Package mqtt implements transport.Conn over MQTT 3.1.1 with the Eclipse
// Paho Go client.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqcluster/mqcluster/transport"
)

// Credentials authenticate a client to the broker. The zero value
// connects with no user name and, for a TLS URL, trusts the system's
// certificate authorities.
type Credentials struct {
	Username string
	Password string
	// TLS configures ssl:// URLs: RootCAs verifies the broker, and
	// Certificates holds a client certificate for mutual TLS.
	TLS *tls.Config
}

// Conn is a transport.Conn over one Paho client.
type Conn struct {
	client  paho.Client
	opts    transport.Options
	creds   Credentials
	session atomic.Uint32

	mu      sync.Mutex
	subs    map[string]subscription // by filter
	lastErr error                   // last failed connection attempt
	fatal   chan error              // gets the first failure that retrying cannot fix
	// everConnected is set once a connection was up: later failures are
	// retried whatever they are, since settings that worked may work again.
	everConnected bool
	lastLogged    time.Time // when a failed attempt was last logged
	failures      int       // failed attempts since the last connection
}

type subscription struct {
	qos     byte
	handler transport.Handler
}

var _ transport.Conn = (*Conn)(nil)

// Dial connects to broker, a URL such as tcp://127.0.0.1:1883 (a bare
// host:port means tcp), and waits until the first connection is up or ctx
// ends. Once up, the connection reconnects by itself.
func Dial(ctx context.Context, broker string, opts transport.Options) (*Conn, error) {
	return DialWith(ctx, broker, Credentials{}, opts)
}

// DialWith is Dial with credentials. A broker URL of ssl://, tls:// or
// mqtts:// connects with TLS, by default on port 8883.
func DialWith(ctx context.Context, broker string, creds Credentials, opts transport.Options) (*Conn, error) {
	server, err := BrokerURL(broker)
	if err != nil {
		return nil, err
	}
	if creds.TLS != nil && !strings.HasPrefix(server, "ssl://") {
		return nil, fmt.Errorf("broker URL %s is not a TLS URL, but TLS settings were given: use ssl://HOST:8883", server)
	}
	if opts.ClientID == "" {
		return nil, errors.New("mqtt: empty client id")
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = transport.DefaultKeepAlive
	}
	if opts.MaxReconnectInterval == 0 {
		opts.MaxReconnectInterval = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Conn{opts: opts, creds: creds, subs: map[string]subscription{}, fatal: make(chan error, 1)}
	c.session.Store(opts.FirstSession)
	c.client = paho.NewClient(c.clientOptions(server))

	token := c.client.Connect()
	select {
	case <-token.Done():
		if err := token.Error(); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", server, err)
		}
		return c, nil
	case err := <-c.fatal:
		// Retrying with the same settings would fail the same way.
		c.client.Disconnect(0)
		return nil, fmt.Errorf("connect to %s as client %s: %w; %s", server, opts.ClientID, err, diagnose(err, server).hint)
	case <-ctx.Done():
		c.client.Disconnect(0)
		last := c.lastError()
		if hint := diagnose(last, server).hint; last != nil && hint != "" {
			return nil, fmt.Errorf("connect to %s: %w (last error: %v); %s", server, ctx.Err(), last, hint)
		}
		return nil, fmt.Errorf("connect to %s: %w (last error: %v); is the broker running at that address?", server, ctx.Err(), last)
	}
}

// BrokerURL normalises a broker address: "host:port" becomes
// "tcp://host:port", mqtt:// is accepted for tcp://, and tls:// and
// mqtts:// for ssl://.
func BrokerURL(broker string) (string, error) {
	if broker == "" {
		return "", errors.New("empty broker address: give a URL such as tcp://127.0.0.1:1883")
	}
	if !strings.Contains(broker, "://") {
		broker = "tcp://" + broker
	}
	u, err := url.Parse(broker)
	if err != nil {
		return "", fmt.Errorf("invalid broker URL %q: %w", broker, err)
	}
	port := ":1883"
	switch u.Scheme {
	case "tcp", "mqtt":
		u.Scheme = "tcp"
	case "ssl", "tls", "mqtts":
		u.Scheme, port = "ssl", ":8883"
	default:
		return "", fmt.Errorf("invalid broker URL %q: scheme %q is not supported, use tcp:// or ssl://", broker, u.Scheme)
	}
	if u.User != nil {
		return "", fmt.Errorf("invalid broker URL: it contains a user name or password; give them with --username and a password file instead, so that they stay out of logs")
	}
	if u.Port() == "" {
		u.Host += port
	}
	return u.String(), nil
}

func (c *Conn) clientOptions(server string) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(server).
		SetClientID(c.opts.ClientID).
		SetProtocolVersion(4). // MQTT 3.1.1
		SetCleanSession(true).
		SetKeepAlive(c.opts.KeepAlive).
		SetPingTimeout(c.opts.KeepAlive).
		SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(500 * time.Millisecond).
		SetMaxReconnectInterval(c.opts.MaxReconnectInterval).
		SetOrderMatters(true).
		SetUsername(c.creds.Username).
		SetPassword(c.creds.Password).
		SetOnConnectHandler(func(paho.Client) { go c.onConnect() }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			if c.opts.OnConnectionLost != nil {
				c.opts.OnConnectionLost(err)
			}
		}).
		SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
			switch n := n.(type) {
			case paho.ConnectionNotificationBrokerFailed: // no connection, or no TLS handshake
				c.connectFailed(server, n.Reason)
			case paho.ConnectionNotificationFailed: // also a CONNACK that refused the client
				c.connectFailed(server, n.Reason)
			}
		}).
		// Each reconnect is a new session with a will of its own.
		SetReconnectingHandler(func(_ paho.Client, o *paho.ClientOptions) {
			c.setWill(o, c.session.Add(1))
		})
	if c.creds.TLS != nil {
		o.SetTLSConfig(c.creds.TLS)
	}
	c.setWill(o, c.session.Load())
	return o
}

func (c *Conn) setWill(o *paho.ClientOptions, session uint32) {
	if c.opts.Will == nil {
		return
	}
	w := c.opts.Will(session)
	o.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retain)
}

// connectFailed records a failed attempt and logs it, at most every 5 s, so
// that a program waiting for its broker says so.
func (c *Conn) connectFailed(server string, err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	c.failures++
	d := diagnose(err, server)
	if d.fatal && !c.everConnected {
		select {
		case c.fatal <- err:
		default:
		}
		return // Dial returns it; nothing is retried
	}
	if time.Since(c.lastLogged) < 5*time.Second {
		return
	}
	c.lastLogged = time.Now()
	args := []any{"broker", server, "client", c.opts.ClientID, "attempts", c.failures, "error", err}
	if d.hint != "" {
		args = append(args, "hint", d.hint)
	}
	c.opts.Logger.Warn("connect to broker failed, retrying", args...)
}

func (c *Conn) lastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// onConnect restores the subscriptions, which a clean MQTT session loses on
// every reconnect, and then tells the owner.
func (c *Conn) onConnect() {
	c.mu.Lock()
	c.failures = 0
	c.everConnected = true
	subs := make(map[string]subscription, len(c.subs))
	for f, s := range c.subs {
		subs[f] = s
	}
	c.mu.Unlock()
	for filter, s := range subs {
		tok := c.client.Subscribe(filter, s.qos, c.wrap(s.handler))
		tok.WaitTimeout(10 * time.Second)
		if err := subackError(tok, filter); err != nil {
			c.opts.Logger.Error("subscription rejected after a reconnect", "client", c.opts.ClientID, "error", err)
		}
	}
	if c.opts.OnConnect != nil {
		c.opts.OnConnect(c.session.Load())
	}
}

func (c *Conn) wrap(h transport.Handler) paho.MessageHandler {
	return func(_ paho.Client, m paho.Message) {
		h(transport.Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained()})
	}
}

// Session returns the number of the current or latest connection.
func (c *Conn) Session() uint32 { return c.session.Load() }

// Publish implements transport.Conn.
func (c *Conn) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	return wait(ctx, c.client.Publish(topic, qos, retain, payload), "publish to "+topic)
}

// PublishAsync implements transport.Conn.
func (c *Conn) PublishAsync(topic string, qos byte, retain bool, payload []byte) func(context.Context) error {
	t := c.client.Publish(topic, qos, retain, payload)
	return func(ctx context.Context) error { return wait(ctx, t, "publish to "+topic) }
}

// Subscribe implements transport.Conn.
func (c *Conn) Subscribe(ctx context.Context, filter string, qos byte, h transport.Handler) error {
	c.mu.Lock()
	c.subs[filter] = subscription{qos: qos, handler: h}
	c.mu.Unlock()
	tok := c.client.Subscribe(filter, qos, c.wrap(h))
	if err := wait(ctx, tok, "subscribe to "+filter); err != nil {
		return err
	}
	return subackError(tok, filter)
}

// subackError returns an error if the broker refused the subscription to
// filter in its SUBACK, as a broker does when its ACL denies it.
func subackError(tok paho.Token, filter string) error {
	st, ok := tok.(*paho.SubscribeToken)
	if !ok {
		return nil
	}
	if code, found := st.Result()[filter]; found && code >= 0x80 {
		return fmt.Errorf("subscribe to %s: the broker rejected it (SUBACK code 0x%02x); check that the broker's ACL lets this user read it", filter, code)
	}
	return nil
}

// Close implements transport.Conn. It waits up to 250 ms for work in flight.
func (c *Conn) Close() {
	c.client.Disconnect(250)
}

func wait(ctx context.Context, t paho.Token, what string) error {
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// Dialer returns a transport.Dialer that connects to broker.
func Dialer(broker string) transport.Dialer {
	return SecureDialer(broker, Credentials{})
}

// SecureDialer returns a transport.Dialer that connects to broker with creds.
func SecureDialer(broker string, creds Credentials) transport.Dialer {
	return func(ctx context.Context, opts transport.Options) (transport.Conn, error) {
		return DialWith(ctx, broker, creds, opts)
	}
}
