// Package broker runs the embedded MQTT broker (mochi-mqtt), so that a
// cluster on one machine needs no other program.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/mqcluster/mqcluster/auth"
	"github.com/mqcluster/mqcluster/protocol"
)

// DefaultAddr is the embedded broker's default listen address.
const DefaultAddr = "127.0.0.1:1883"

// Options configure the embedded broker. Zero values take the defaults.
type Options struct {
	// Addr is the TCP address to listen on; default DefaultAddr. Port 0
	// picks a free port, which Addr on the Broker then reports.
	Addr string
	// Logger receives the broker's warnings and errors, and client connects
	// and disconnects at Debug level; default slog.Default().
	Logger *slog.Logger
	// OnConnect, if set, is called with the client id of each client whose
	// connection the broker accepted. It runs on the client's goroutine and
	// must not block.
	OnConnect func(clientID string)

	// Users, if set, are the accounts clients log in with. Then, or when
	// TLS verifies client certificates, every client must prove an
	// identity, and the rules of auth.Rules apply to its topics.
	Users *auth.Users
	// TLS, if set, serves MQTT over TLS. A TLS config whose ClientCAs is
	// set verifies client certificates: the common name and role of a
	// verified certificate are the client's identity.
	TLS *tls.Config
	// Topics are the cluster's topics, for the rules; default
	// protocol.NewTopics("", "").
	Topics protocol.Topics
	// MaxPacketSize is the largest MQTT packet a client may send; larger
	// ones close its connection. Default DefaultMaxPacketSize.
	MaxPacketSize uint32
	// MaxConnsPerAddr caps the connections from one IP address; default
	// DefaultMaxConnsPerAddr.
	MaxConnsPerAddr int
}

// Defaults of Options. The packet size fits the Go worker's default
// largest payload, 64 MiB, with room for the message around it.
const (
	DefaultMaxPacketSize   = 64<<20 + 64<<10
	DefaultMaxConnsPerAddr = 256
)

// Secured reports whether the options make clients prove an identity.
func (o Options) Secured() bool {
	return o.Users != nil || (o.TLS != nil && o.TLS.ClientCAs != nil)
}

// Broker is a running embedded broker.
type Broker struct {
	server    *mochi.Server
	addr      net.Addr
	scheme    string
	internal  net.Addr       // the plain listener for in-process clients
	listeners []net.Listener // closed first by Close
}

// Start listens on opts.Addr and serves MQTT until Close.
func Start(opts Options) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Topics.Prefix() == "" {
		opts.Topics, _ = protocol.NewTopics("", "")
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = DefaultMaxPacketSize
	}
	if opts.MaxConnsPerAddr <= 0 {
		opts.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w (is another broker running there? use --broker-addr to pick another port)", opts.Addr, err)
	}
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opts.MaxPacketSize
	server := mochi.New(&mochi.Options{
		Capabilities: caps,
		// mochi logs every client disconnect as a warning; the coordinator
		// already logs what matters about nodes, so keep only errors.
		Logger: slog.New(levelFilter{opts.Logger.Handler(), slog.LevelError}).With("component", "broker"),
	})
	log := opts.Logger.With("component", "broker")
	g := &guard{
		server: server, users: opts.Users, certAuth: opts.TLS != nil && opts.TLS.ClientCAs != nil,
		rules: auth.Rules{Topics: opts.Topics}, maxConns: opts.MaxConnsPerAddr, log: log,
		identities: map[*mochi.Client]auth.Identity{}, lastLog: map[string]time.Time{},
	}
	if err := server.AddHook(g, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	events := &eventHook{log: log, onConnect: opts.OnConnect}
	if err := server.AddHook(events, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := server.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	internal := ln.Addr()
	open := []net.Listener{ln}
	if opts.TLS != nil {
		// Clients in this process connect on a loopback listener without
		// TLS, so that they need no certificate that names this host. They
		// log in like any other client.
		iln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("embedded broker: listen on loopback for in-process clients: %w", err)
		}
		if err := server.AddListener(listeners.NewNet("internal", iln)); err != nil {
			ln.Close()
			iln.Close()
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		internal = iln.Addr()
		open = append(open, iln)
	}
	if err := server.Serve(); err != nil {
		server.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	scheme := "tcp"
	if opts.TLS != nil {
		scheme = "ssl"
	}
	return &Broker{server: server, addr: ln.Addr(), scheme: scheme, internal: internal, listeners: open}, nil
}

// Addr returns the address the broker listens on, as host:port.
func (b *Broker) Addr() string { return b.addr.String() }

// URL returns the broker's address as a client URL: tcp://host:port, or
// ssl://host:port with TLS.
func (b *Broker) URL() string { return b.scheme + "://" + b.addr.String() }

// InternalURL returns the URL for clients in this process: URL, or with
// TLS a plain tcp:// listener on loopback.
func (b *Broker) InternalURL() string { return "tcp://" + b.internal.String() }

// Close stops the listener and disconnects every client. Clients that had a
// will get it published, as with any broker that goes away.
func (b *Broker) Close() error {
	// mochi v2.7.9's Close deadlocks if a client leaves while it lists the
	// clients of a listener, because its GetByListener takes a read lock
	// twice. So stop taking clients, let every client go, and wait for them
	// to be gone before calling it.
	for _, ln := range b.listeners {
		ln.Close()
	}
	for _, cl := range b.server.Clients.GetAll() {
		cl.Stop(errClosing)
	}
	deadline := time.Now().Add(2 * time.Second)
	for b.server.Clients.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return b.server.Close()
}

var errClosing = errors.New("the broker is closing")

// levelFilter passes on only the records at min or above.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (h levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{h.Handler.WithGroup(name), h.min}
}
