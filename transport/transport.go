// Package transport defines the publish/subscribe connection that the
// coordinator and the worker use, with no MQTT library types in it, so that
// the scheduler can be read and changed without knowing the client library.
// Package transport/mqtt implements it over MQTT 3.1.1.
package transport

import (
	"context"
	"log/slog"
	"time"
)

// Message is one message delivered by the broker.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Handler receives the messages of one subscription. Handlers run one at a
// time on the connection's delivery goroutine, in the order the broker sent
// the messages, so a handler must not block: a slow handler delays every
// later message and can starve the keepalive.
type Handler func(Message)

// Will is the message the broker publishes when a connection dies without a
// clean disconnect.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Conn is a connection to a broker that reconnects by itself with backoff
// and restores its subscriptions after each reconnect.
type Conn interface {
	// Publish sends payload and, for QoS 1, waits for the broker's
	// acknowledgement or for ctx to end.
	Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error
	// PublishAsync sends payload and returns a function that waits as
	// Publish does, so that several publishes can be in flight at once.
	PublishAsync(topic string, qos byte, retain bool, payload []byte) (wait func(context.Context) error)
	// Subscribe registers h for filter and keeps it across reconnects.
	Subscribe(ctx context.Context, filter string, qos byte, h Handler) error
	// Close disconnects cleanly, so the broker does not publish the will.
	Close()
}

// Options configure a connection. Zero values take the defaults.
type Options struct {
	ClientID  string        // MQTT client id; required
	KeepAlive time.Duration // MQTT keepalive; default 10 s
	// FirstSession numbers the first connection; each reconnect adds 1. A
	// node's birth and will carry this number so that a late will of an old
	// connection can be told apart from the current one.
	FirstSession uint32
	// Will, if set, returns the will of the connection numbered session.
	Will func(session uint32) Will
	// OnConnect, if set, runs after each connection is up and its
	// subscriptions are restored, on a goroutine of its own.
	OnConnect func(session uint32)
	// OnConnectionLost, if set, runs when a connection drops.
	OnConnectionLost func(err error)
	// MaxReconnectInterval caps the reconnect backoff; default 10 s.
	MaxReconnectInterval time.Duration
	// Logger receives a warning when connecting fails, at most one every
	// 5 s; default slog.Default().
	Logger *slog.Logger
}

// DefaultKeepAlive is the MQTT keepalive when Options.KeepAlive is zero.
const DefaultKeepAlive = 10 * time.Second

// Dialer opens a connection with the given options and waits until it is up
// or ctx ends.
type Dialer func(ctx context.Context, opts Options) (Conn, error)
