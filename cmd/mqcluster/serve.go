package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqcluster/mqcluster/broker"
	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/jobs"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/store"
	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

// coordinatorFlags are the scheduling and storage flags of `up` and `coordinator`.
type coordinatorFlags struct {
	clusterFlags
	apiAddr      string
	maxAttempts  int
	taskDeadline time.Duration
	data         string
	noSync       bool
	retention    time.Duration
	noBackups    bool
	maxUpload    int64
}

func (f *coordinatorFlags) register(cmd *cobra.Command) {
	f.clusterFlags.register(cmd)
	cmd.Flags().StringVar(&f.apiAddr, "api-addr", cluster.DefaultAPIAddr, "address of the HTTP API")
	cmd.Flags().IntVar(&f.maxAttempts, "max-attempts", 3, "attempts a task gets: after this many failures, lost nodes or missed deadlines it is marked failed")
	cmd.Flags().DurationVar(&f.taskDeadline, "task-deadline", 60*time.Second, "time a node may hold a task before it runs elsewhere; a missed deadline uses up an attempt")
	cmd.Flags().StringVar(&f.data, "data", defaultDataDir(), `directory of the job store, which lets a restarted coordinator resume its jobs; "none" keeps jobs in memory only`)
	cmd.Flags().BoolVar(&f.noSync, "no-sync", false, "skip the fsync of each store commit: faster, but a power cut can lose recent results")
	cmd.Flags().DurationVar(&f.retention, "retention", 24*time.Hour, "how long a finished job and its results are kept")
	cmd.Flags().BoolVar(&f.noBackups, "no-backups", false, "never start a backup copy of a slow task on an idle node")
	cmd.Flags().Int64Var(&f.maxUpload, "max-upload", coordinator.DefaultMaxUpload, "largest job submission accepted by the HTTP API, in bytes")
}

// openStore opens the job store of the cluster under --data, or returns nil
// for --data none.
func (f *coordinatorFlags) openStore(log *slog.Logger) (*store.Store, error) {
	if f.data == "none" {
		return nil, nil
	}
	if f.data == "" {
		return nil, fmt.Errorf(`--data: no default directory on this system (no home directory?): give one, or "none"`)
	}
	path := filepath.Join(f.data, f.cluster+".db")
	s, err := store.Open(path, store.Options{NoSync: f.noSync, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("job store opened", "path", path, "fsync", !f.noSync)
	return s, nil
}

func (f *coordinatorFlags) options() (coordinator.Options, error) {
	topics, err := f.topics()
	if err != nil {
		return coordinator.Options{}, err
	}
	if f.maxAttempts < 1 || f.maxAttempts > 100 {
		return coordinator.Options{}, fmt.Errorf("--max-attempts: %d is not between 1 and 100", f.maxAttempts)
	}
	if f.taskDeadline <= 0 {
		return coordinator.Options{}, fmt.Errorf("--task-deadline: %v is not a positive duration", f.taskDeadline)
	}
	if f.maxUpload < 1 {
		return coordinator.Options{}, fmt.Errorf("--max-upload: %d is not a positive number of bytes", f.maxUpload)
	}
	if f.retention <= 0 {
		return coordinator.Options{}, fmt.Errorf("--retention: %v is not a positive duration", f.retention)
	}
	return coordinator.Options{Topics: topics, MaxAttempts: f.maxAttempts, TaskDeadline: f.taskDeadline,
		Retention: f.retention, NoBackups: f.noBackups, MaxUpload: f.maxUpload, Software: software()}, nil
}

func software() string { return "mqcluster/" + version }

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newUpCommand(g *globalFlags) *cobra.Command {
	var cf coordinatorFlags
	var sf serverFlags
	var mf mqttClientFlags
	var opts cluster.Options
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the embedded broker, the coordinator and its HTTP API in one process",
		Long: `Run the embedded MQTT broker, the coordinator and its HTTP API in one
process, and with --workers also that many workers. Nodes on other machines
join by connecting to the broker address; stop with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if opts.Coordinator, err = cf.options(); err != nil {
				return err
			}
			opts.Logger, opts.APIAddr = log, cf.apiAddr
			if err := sf.secureUp(&opts, &mf, log); err != nil {
				return err
			}
			if opts.Coordinator.Store, err = cf.openStore(log); err != nil {
				return err
			}
			c, err := cluster.Start(cmd.Context(), opts)
			if err != nil {
				closeStore(opts.Coordinator.Store, log)
				return err
			}
			log.Info("cluster up", "broker", c.BrokerURL, "api", c.APIURL, "workers", opts.Workers)
			<-cmd.Context().Done()
			log.Info("shutting down")
			c.Close()
			closeStore(opts.Coordinator.Store, log)
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&opts.BrokerAddr, "broker-addr", broker.DefaultAddr, "address the embedded broker listens on")
	f.StringVar(&opts.BrokerURL, "broker", "", "use this external broker (tcp://host:port) instead of the embedded one; --broker-addr is then unused")
	f.IntVar(&opts.Workers, "workers", 0, "workers to run in this process")
	f.IntVar(&opts.Slots, "slots", 1, "slots (tasks at once) of each in-process worker")
	f.DurationVar(&opts.TaskDelay, "task-delay", 0, "pause before each task of the in-process workers, to watch scheduling on a fast machine")
	sf.register(cmd, true)
	mf.register(cmd, "coordinator")
	return cmd
}

func newCoordinatorCommand(g *globalFlags) *cobra.Command {
	var cf coordinatorFlags
	var sf serverFlags
	var mf mqttClientFlags
	var brokerURL string
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run the coordinator and its HTTP API against an MQTT broker",
		Long: `Run the coordinator and its HTTP API against a broker you run, such as
Mosquitto (with set_tcp_nodelay true in its config). Workers and boards
connect to the same broker. One coordinator runs per cluster: a second one
for the same --cluster stops with an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			opts, err := cf.options()
			if err != nil {
				return err
			}
			opts.Logger = log
			creds, err := mf.credentials("coordinator", brokerURL, log)
			if err != nil {
				return err
			}
			if opts.APIToken, err = sf.apiToken(cf.apiAddr, log); err != nil {
				return err
			}
			apiTLS, err := sf.serverTLS()
			if err != nil {
				return err
			}
			if opts.Store, err = cf.openStore(log); err != nil {
				return err
			}
			defer closeStore(opts.Store, log)
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			c, err := coordinator.Start(ctx, mqtt.SecureDialer(brokerURL, creds), opts)
			if err != nil {
				return err
			}
			defer c.Close()
			return serveHTTP(cmd.Context(), cf.apiAddr, apiTLS, c.Handler(), log)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&brokerURL, "broker", "tcp://"+broker.DefaultAddr, "MQTT broker URL: tcp://host:port, or ssl://host:port for TLS")
	sf.register(cmd, false)
	mf.register(cmd, "coordinator")
	return cmd
}

// closeStore closes s, if set, and logs a failure.
func closeStore(s *store.Store, log *slog.Logger) {
	if s == nil {
		return
	}
	if err := s.Close(); err != nil {
		log.Error("close the job store failed", "path", s.Path(), "error", err)
	}
}

// serveHTTP serves h on addr until ctx ends, over TLS if tlsConfig is set.
func serveHTTP(ctx context.Context, addr string, tlsConfig *tls.Config, h http.Handler, log interface{ Info(string, ...any) }) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HTTP API: listen on %s: %w (use --api-addr to pick another port)", addr, err)
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("HTTP API listening", "url", scheme+"://"+ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// workerFlags are the flags of `worker`.
type workerFlags struct {
	clusterFlags
	broker      string
	opts        worker.Options
	maxPayload  int64
	delay       time.Duration
	metricsAddr string
	mqtt        mqttClientFlags
}

func newWorkerCommand(g *globalFlags) *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker node that takes tasks from the coordinator",
		Long: `Run a worker node. It connects to the broker, announces its task kinds
(image.gray, noop, sleep) and runs up to --slots tasks at once. On SIGINT or
SIGTERM it stops taking tasks, finishes the running ones within
--drain-timeout and leaves cleanly. If the broker goes away, it reconnects
with backoff.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			opts, err := f.options()
			if err != nil {
				return err
			}
			opts.Logger, opts.Software = log, software()
			creds, err := f.mqtt.credentials(opts.NodeID, f.broker, log)
			if err != nil {
				return err
			}
			w, err := worker.New(opts)
			if err != nil {
				return err
			}
			if err := jobs.Register(w, f.delay); err != nil {
				return err
			}
			if f.metricsAddr != "" {
				stop, err := serveMetrics(f.metricsAddr, w.MetricsHandler(), log)
				if err != nil {
					return err
				}
				defer stop()
			}
			return w.Run(cmd.Context(), mqtt.SecureDialer(f.broker, creds))
		},
	}
	f.clusterFlags.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&f.broker, "broker", "tcp://"+broker.DefaultAddr, "MQTT broker URL: tcp://host:port, or ssl://host:port for TLS")
	fs.StringVar(&f.opts.NodeID, "id", "", "node id, unique in the cluster (default: the host name)")
	fs.IntVar(&f.opts.Slots, "slots", 0, "tasks run at once (default: the number of CPUs)")
	fs.IntVar(&f.opts.Prefetch, "prefetch", 0, "tasks held beyond slots, each waiting for a slot to free (default: 2 x slots; -1 for none)")
	fs.IntVar(&f.opts.Batch, "batch", 0, "most tasks taken in one message (default: slots + prefetch)")
	fs.Int64Var(&f.maxPayload, "max-payload", 64<<20, "largest task payload accepted, in bytes")
	fs.DurationVar(&f.opts.Heartbeat, "heartbeat", time.Second, "interval between heartbeats; the coordinator marks the node offline after 3.5 intervals of silence")
	fs.DurationVar(&f.opts.KeepAlive, "keepalive", 10*time.Second, "MQTT keepalive; the broker publishes the node's will after 1.5 keepalives of silence")
	fs.DurationVar(&f.opts.DrainTimeout, "drain-timeout", 30*time.Second, "on shutdown, time to finish running tasks")
	fs.DurationVar(&f.delay, "task-delay", 0, "pause before each task, to watch scheduling on a fast machine")
	f.mqtt.register(cmd, "the node id")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics, such as 127.0.0.1:9101 (default: off)")
	return cmd
}

// serveMetrics serves h at /metrics on addr until stop is called.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}

// options checks the flags and returns the worker options.
func (f *workerFlags) options() (worker.Options, error) {
	opts := f.opts
	var err error
	if opts.Topics, err = f.topics(); err != nil {
		return opts, err
	}
	if opts.NodeID == "" {
		if opts.NodeID, err = defaultNodeID(); err != nil {
			return opts, err
		}
	}
	switch {
	case opts.Slots < 0:
		return opts, fmt.Errorf("--slots: %d is negative; 0 means the number of CPUs", opts.Slots)
	case opts.Batch < 0:
		return opts, fmt.Errorf("--batch: %d is negative; 0 means slots + prefetch", opts.Batch)
	case f.maxPayload < 1 || f.maxPayload > 1<<32-1:
		return opts, fmt.Errorf("--max-payload: %d is not between 1 and 4294967295 bytes", f.maxPayload)
	case opts.Heartbeat < 100*time.Millisecond:
		return opts, fmt.Errorf("--heartbeat: %v is shorter than 100ms", opts.Heartbeat)
	case opts.KeepAlive < time.Second:
		return opts, fmt.Errorf("--keepalive: %v is shorter than 1s", opts.KeepAlive)
	case opts.DrainTimeout <= 0:
		return opts, fmt.Errorf("--drain-timeout: %v is not a positive duration", opts.DrainTimeout)
	case f.delay < 0:
		return opts, fmt.Errorf("--task-delay: %v is negative", f.delay)
	}
	opts.MaxPayload = uint32(f.maxPayload)
	return opts, nil
}

// defaultNodeID returns the host name, with characters that a node id
// cannot hold replaced by '-'.
func defaultNodeID() (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "", fmt.Errorf("no host name to name the node after (%v): give one with --id", err)
	}
	id := []byte(host)
	for i, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			id[i] = '-'
		}
	}
	if len(id) > 64 {
		id = id[:64]
	}
	return string(id), nil
}

// coordinatorOptionsForLocal returns the coordinator options of a throwaway
// cluster: the defaults on the given topics.
func coordinatorOptionsForLocal(topics protocol.Topics) coordinator.Options {
	return coordinator.Options{Topics: topics, Software: software()}
}
