// Package cluster runs a whole cluster in one process: the embedded broker,
// the coordinator with its HTTP API, and optionally workers, all talking
// over real MQTT connections on loopback. `mqcluster up` and
// `mqcluster image grayscale --local` use it.
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqcluster/mqcluster/auth"
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

	// Broker secures the embedded broker: its Users, TLS, MaxPacketSize
	// and MaxConnsPerAddr are used, and its Addr, Topics, Logger and
	// OnConnect are set from the fields above.
	Broker broker.Options
	// Credentials log the coordinator and the in-process workers in to an
	// external broker. On a secured embedded broker they get accounts of
	// their own, with random passwords that live in memory only.
	Credentials mqtt.Credentials
	// APITLS, if set, serves the HTTP API over HTTPS.
	APITLS *tls.Config
}

// DefaultAPIAddr is the HTTP API's default listen address.
const DefaultAPIAddr = "127.0.0.1:8080"

// Cluster is a running in-process cluster.
type Cluster struct {
	Coordinator *coordinator.Coordinator
	BrokerURL   string // the broker in use, embedded or external
	APIURL      string // http://host:port of the HTTP API

	broker      *broker.Broker
	internalURL string                      // the broker URL for this process's clients
	creds       map[string]mqtt.Credentials // accounts on a secured embedded broker, by user name
	server      *http.Server
	stop        context.CancelFunc
	workers     sync.WaitGroup
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
	c.internalURL = c.BrokerURL
	c.creds = map[string]mqtt.Credentials{}
	if c.BrokerURL == "" {
		if err := c.startBroker(opts); err != nil {
			return err
		}
	}
	copts := opts.Coordinator
	copts.Logger = opts.Logger
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	coord, err := coordinator.Start(dialCtx, mqtt.SecureDialer(c.internalURL, c.credentials(internalCoordinator, opts)), copts)
	if err != nil {
		return err
	}
	c.Coordinator = coord
	if err := c.serveAPI(opts.APIAddr, opts.APITLS, opts.Logger); err != nil {
		return err
	}
	return c.startWorkers(opts)
}

// internalCoordinator is the account of the coordinator of this process on
// a secured embedded broker.
const internalCoordinator = "mqcluster-up"

// startBroker starts the embedded broker. When it is secured, the
// coordinator and each in-process worker get an account with a random
// password, which never leaves this process.
func (c *Cluster) startBroker(opts Options) error {
	bopts := opts.Broker
	bopts.Addr, bopts.Logger, bopts.OnConnect = opts.BrokerAddr, opts.Logger, opts.OnBrokerConnect
	bopts.Topics = opts.Coordinator.Topics
	if bopts.Secured() {
		if bopts.Users == nil {
			bopts.Users = auth.NewUsers()
		}
		accounts := map[string]string{internalCoordinator: auth.RoleCoordinator}
		for i := 1; i <= opts.Workers; i++ {
			accounts[localWorkerID(i)] = auth.RoleNode
		}
		for name, role := range accounts {
			password := rand.Text()
			// The lowest bcrypt cost: the password is random and long, so
			// the hash needs no slowness to resist guessing.
			if err := bopts.Users.Add(name, role, password, bcrypt.MinCost); err != nil {
				return err
			}
			c.creds[name] = mqtt.Credentials{Username: name, Password: password}
		}
	}
	b, err := broker.Start(bopts)
	if err != nil {
		return err
	}
	c.broker, c.BrokerURL, c.internalURL = b, b.URL(), b.InternalURL()
	opts.Logger.Info("embedded broker listening", "url", c.BrokerURL, "secured", bopts.Secured())
	return nil
}

// credentials returns the credentials of the in-process client name: its
// own account on a secured embedded broker, else opts.Credentials.
func (c *Cluster) credentials(name string, opts Options) mqtt.Credentials {
	if creds, ok := c.creds[name]; ok {
		return creds
	}
	if c.broker != nil {
		return mqtt.Credentials{}
	}
	return opts.Credentials
}

func localWorkerID(i int) string { return fmt.Sprintf("local-%d", i) }

func (c *Cluster) serveAPI(addr string, tlsConfig *tls.Config, log *slog.Logger) error {
	if addr == "" {
		addr = DefaultAPIAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HTTP API: listen on %s: %w (use --api-addr to pick another port)", addr, err)
	}
	c.APIURL = "http://" + ln.Addr().String()
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		c.APIURL = "https://" + ln.Addr().String()
	}
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
		id := localWorkerID(i)
		w, err := worker.New(worker.Options{
			NodeID: id, Slots: max(opts.Slots, 1),
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
			if err := w.Run(ctx, mqtt.SecureDialer(c.internalURL, c.credentials(id, opts))); err != nil {
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
