// Package cluster runs a whole cluster in one process: the embedded broker,
// the coordinator with its HTTP API, and optionally workers, all talking
// over real MQTT connections on loopback. `mqcluster up` and
// `mqcluster image grayscale --local` use it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mqcluster/mqcluster/broker"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/jobs"
	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

// Options configure a cluster in one process.
type Options struct {
	// BrokerURL, if set, names an external broker and no embedded broker
	// starts. Otherwise the embedded broker listens on BrokerAddr.
	BrokerURL  string
	BrokerAddr string // default broker.DefaultAddr; port 0 picks a free port
	APIAddr    string // default DefaultAPIAddr; port 0 picks a free port
	Workers    int    // in-process workers to run
	Slots      int    // slots of each in-process worker; default 1
	// TaskDelay adds a pause before each task of the in-process workers, to
	// watch scheduling and failover on a machine that is otherwise too fast.
	TaskDelay   time.Duration
	Coordinator coordinator.Options // its Logger is replaced by Logger
	Logger      *slog.Logger
	// OnBrokerConnect, if set, is passed to the embedded broker as its
	// OnConnect callback.
	OnBrokerConnect func(clientID string)
}

// DefaultAPIAddr is the HTTP API's default listen address.
const DefaultAPIAddr = "127.0.0.1:8080"

// Cluster is a running in-process cluster.
type Cluster struct {
	Coordinator *coordinator.Coordinator
	BrokerURL   string // the broker in use, embedded or external
	APIURL      string // http://host:port of the HTTP API

	broker  *broker.Broker
	server  *http.Server
	stop    context.CancelFunc
	workers sync.WaitGroup
}

// Start starts the broker (unless external), the coordinator, its HTTP API
// and the workers. Close stops them in the reverse order.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Cluster{BrokerURL: opts.BrokerURL}
	if err := c.start(ctx, opts); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	if c.BrokerURL == "" {
		b, err := broker.Start(broker.Options{Addr: opts.BrokerAddr, Logger: opts.Logger, OnConnect: opts.OnBrokerConnect})
		if err != nil {
			return err
		}
		c.broker, c.BrokerURL = b, b.URL()
		opts.Logger.Info("embedded broker listening", "url", c.BrokerURL)
	}
	copts := opts.Coordinator
	copts.Logger = opts.Logger
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	coord, err := coordinator.Start(dialCtx, mqtt.Dialer(c.BrokerURL), copts)
	if err != nil {
		return err
	}
	c.Coordinator = coord
	if err := c.serveAPI(opts.APIAddr, opts.Logger); err != nil {
		return err
	}
	return c.startWorkers(opts)
}

func (c *Cluster) serveAPI(addr string, log *slog.Logger) error {
	if addr == "" {
		addr = DefaultAPIAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HTTP API: listen on %s: %w (use --api-addr to pick another port)", addr, err)
	}
	c.APIURL = "http://" + ln.Addr().String()
	c.server = &http.Server{Handler: c.Coordinator.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := c.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP API stopped", "error", err)
		}
	}()
	log.Info("HTTP API listening", "url", c.APIURL)
	return nil
}

func (c *Cluster) startWorkers(opts Options) error {
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	for i := 1; i <= opts.Workers; i++ {
		w, err := worker.New(worker.Options{
			NodeID: fmt.Sprintf("local-%d", i), Slots: max(opts.Slots, 1),
			Topics: opts.Coordinator.Topics, Logger: opts.Logger,
		})
		if err != nil {
			return err
		}
		if err := jobs.Register(w, opts.TaskDelay); err != nil {
			return err
		}
		c.workers.Add(1)
		go func() {
			defer c.workers.Done()
			if err := w.Run(ctx, mqtt.Dialer(c.BrokerURL)); err != nil {
				opts.Logger.Error("worker stopped", "error", err)
			}
		}()
	}
	return nil
}

// Close stops the workers (they drain), the API, the coordinator and the
// embedded broker.
func (c *Cluster) Close() {
	if c.stop != nil {
		c.stop()
		c.workers.Wait()
	}
	if c.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.server.Shutdown(ctx)
		cancel()
	}
	if c.Coordinator != nil {
		c.Coordinator.Close()
	}
	if c.broker != nil {
		c.broker.Close()
	}
}
