// Package broker runs the embedded MQTT broker (mochi-mqtt), so that a
// cluster on one machine needs no other program.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
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
}

// Broker is a running embedded broker.
type Broker struct {
	server *mochi.Server
	addr   net.Addr
}

// Start listens on opts.Addr and serves MQTT until Close.
func Start(opts Options) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w (is another broker running there? use --broker-addr to pick another port)", opts.Addr, err)
	}
	server := mochi.New(&mochi.Options{
		// mochi logs every client disconnect as a warning; the coordinator
		// already logs what matters about nodes, so keep only errors.
		Logger: slog.New(levelFilter{opts.Logger.Handler(), slog.LevelError}).With("component", "broker"),
	})
	// TODO: authentication and ACLs; until then every client is let in.
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	events := &eventHook{log: opts.Logger.With("component", "broker"), onConnect: opts.OnConnect}
	if err := server.AddHook(events, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := server.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := server.Serve(); err != nil {
		server.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{server: server, addr: ln.Addr()}, nil
}

// Addr returns the address the broker listens on, as host:port.
func (b *Broker) Addr() string { return b.addr.String() }

// URL returns the broker's address as a client URL, tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr.String() }

// Close stops the listener and disconnects every client. Clients that had a
// will get it published, as with any broker that goes away.
func (b *Broker) Close() error { return b.server.Close() }

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
