// Package bench measures mqcluster against the limit it is compared with:
// the raw MQTT round-trip rate of the same broker and client library, in
// the same run. Everything runs in one process over loopback TCP.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	"github.com/mqcluster/mqcluster/store"
	"github.com/mqcluster/mqcluster/transport"
	"github.com/mqcluster/mqcluster/transport/mqtt"
)

// Options size the benchmark. Zero values take the defaults.
type Options struct {
	Tasks       int    // no-op tasks in the throughput run; default 20,000
	SimNodes    int    // simulated nodes in the scheduling run; default 200
	SimTasks    int    // 20 ms tasks in the scheduling run; default 10,000
	QueuedTasks int    // tasks queued for the memory figure; default 1,000,000
	ImageSide   int    // side of the square image of the image run; default 4096
	DataDir     string // directory of the durable runs' store; default a new temporary directory
	Logger      *slog.Logger
	BrokerURL   string // an external broker (Mosquitto) to measure too; empty for none
	// WorkerCommand runs a worker process, such as {"/usr/bin/mqcluster",
	// "worker"}, for the failover figure; empty skips that figure.
	WorkerCommand []string
	skipDurable   bool
	latencyCount  int
}

func (o *Options) setDefaults() {
	if o.Tasks <= 0 {
		o.Tasks = 20_000
	}
	if o.SimNodes <= 0 {
		o.SimNodes = 200
	}
	if o.SimTasks <= 0 {
		o.SimTasks = 10_000
	}
	if o.QueuedTasks <= 0 {
		o.QueuedTasks = 1_000_000
	}
	if o.ImageSide <= 0 {
		o.ImageSide = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.latencyCount <= 0 {
		o.latencyCount = 300
	}
}

// Result is one measured figure next to its target.
type Result struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Note   string  `json:"note,omitempty"`
}

func met(ok bool) *bool { return &ok }

// env is an in-process cluster, with its own store in a durable run, torn
// down by close.
type env struct {
	cluster *cluster.Cluster
	url     string
	coord   *coordinator.Coordinator
	store   *store.Store
}

func startEnv(ctx context.Context, o Options, brokerURL string, durable bool, workers, slots int) (*env, error) {
	e := &env{}
	copts := coordinator.Options{NoBackups: true}
	if durable {
		dir := o.DataDir
		if dir == "" {
			dir = filepath.Join(tempDir(), fmt.Sprintf("mqc-bench-%d", time.Now().UnixNano()))
		}
		s, err := store.Open(filepath.Join(dir, "bench.db"), store.Options{Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		e.store, copts.Store = s, s
	}
	c, err := cluster.Start(ctx, cluster.Options{
		BrokerURL: brokerURL, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		Workers: workers, Slots: slots, Coordinator: copts, Logger: o.Logger,
	})
	if err != nil {
		e.close()
		return nil, err
	}
	e.cluster, e.url, e.coord = c, c.BrokerURL, c.Coordinator
	if err := waitOnline(ctx, e.coord, workers); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// close stops the cluster before the store, since the coordinator writes to
// it until it stops. A second call does nothing.
func (e *env) close() {
	if e.cluster != nil {
		e.cluster.Close()
		e.cluster = nil
	}
	if e.store != nil {
		e.store.Close()
		e.store = nil
	}
}

func waitOnline(ctx context.Context, c *coordinator.Coordinator, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		online := 0
		for _, node := range c.Nodes() {
			if node.State == api.NodeOnline {
				online++
			}
		}
		if online >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("only some of %d nodes came online within 30s", n)
}

// rawRoundTrips measures QoS 1 request and reply round trips per second
// between two clients of the broker at url, window requests in flight.
func rawRoundTrips(ctx context.Context, url string, d time.Duration, window int) (float64, error) {
	dial, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	responder, err := mqtt.Dial(dial, url, transport.Options{ClientID: "bench-responder"})
	if err != nil {
		return 0, err
	}
	defer responder.Close()
	requester, err := mqtt.Dial(dial, url, transport.Options{ClientID: "bench-requester"})
	if err != nil {
		return 0, err
	}
	defer requester.Close()
	replies := make(chan struct{}, window)
	err = responder.Subscribe(dial, "bench/req", 1, func(m transport.Message) {
		go responder.Publish(context.Background(), "bench/rep", 1, false, m.Payload)
	})
	if err != nil {
		return 0, err
	}
	if err := requester.Subscribe(dial, "bench/rep", 1, func(transport.Message) { replies <- struct{}{} }); err != nil {
		return 0, err
	}
	var done atomic.Int64
	stop := time.Now().Add(d)
	start := time.Now()
	sem := make(chan struct{}, window)
	for time.Now().Before(stop) {
		select {
		case sem <- struct{}{}:
			go func() {
				requester.Publish(context.Background(), "bench/req", 1, false, []byte("x"))
			}()
		case <-replies:
			<-sem
			done.Add(1)
		}
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// noopThroughput runs one job of n no-op tasks and returns tasks per second.
func noopThroughput(ctx context.Context, e *env, n int) (float64, error) {
	spec := api.JobSpec{Name: "bench-noop", Tasks: builtin.Tasks(builtin.NoopKind, nil, n)}
	start := time.Now()
	job, err := e.coord.Submit(spec)
	if err != nil {
		return 0, err
	}
	j, err := e.coord.WaitJob(ctx, job.ID)
	if err != nil || j.State != api.JobDone {
		return 0, fmt.Errorf("no-op job %s: %v", j.State, err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// latencies submits one task at a time, count times, and returns the
// submit-to-accepted times sorted.
func latencies(ctx context.Context, e *env, count int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, count)
	spec := api.JobSpec{Tasks: []api.TaskSpec{{Kind: builtin.NoopKind}}}
	for range count {
		start := time.Now()
		job, err := e.coord.Submit(spec)
		if err != nil {
			return nil, err
		}
		if _, err := e.coord.WaitJob(ctx, job.ID); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// queuedMemory queues n tasks on a coordinator with no node and returns the
// heap growth per task, after a garbage collection.
func queuedMemory(ctx context.Context, o Options, n int) (float64, error) {
	e, err := startEnv(ctx, o, "", false, 0, 1)
	if err != nil {
		return 0, err
	}
	defer e.close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	spec := api.JobSpec{Tasks: builtin.Tasks(builtin.NoopKind, nil, n)}
	job, err := e.coord.Submit(spec)
	if err != nil {
		return 0, err
	}
	spec.Tasks = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	e.coord.Cancel(job.ID)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n), nil
}
