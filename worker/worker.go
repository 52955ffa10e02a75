// Package worker turns a Go program into a node of an mqcluster cluster:
// register one handler per task kind, then Run.
//
//	w, _ := worker.New(worker.Options{NodeID: "laptop-1", Slots: 4})
//	w.Handle("image.gray", imagejob.Process)
//	err := w.Run(ctx, mqtt.Dialer("tcp://127.0.0.1:1883"))
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport"
)

// HandlerFunc runs one task: it gets the task's payload and returns its
// output. A returned error becomes a failure result whose reason is the
// error's text. ctx ends when the worker's drain timeout runs out.
type HandlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Options configure a worker. Zero values take the defaults, but NodeID is required.
type Options struct {
	NodeID string          // unique in the cluster; also the MQTT client id
	Topics protocol.Topics // default: protocol.NewTopics("", "")
	Slots  int             // tasks run at once; default runtime.NumCPU()
	// Prefetch is how many tasks the node holds beyond Slots, each waiting
	// for a slot to free, so that the next task is already here when one
	// ends. The default, 2 x Slots, keeps a slot busy even when a result's
	// round trip to the coordinator takes longer than a task. A negative
	// value means none, for tasks so long that the round trip does not
	// matter.
	Prefetch int
	// Batch is the maximum number of tasks the node takes in one message.
	// The default, Slots + Prefetch, fills a node in one message.
	Batch        int
	MaxPayload   uint32        // largest task payload accepted; default 64 MiB
	Heartbeat    time.Duration // interval between heartbeats; default 1 s
	KeepAlive    time.Duration // MQTT keepalive; default 10 s
	DrainTimeout time.Duration // how long Run waits for tasks in flight on shutdown; default 30 s
	Logger       *slog.Logger  // default slog.Default()
	Software     string        // announced in the birth; default "mqcluster"
}

func (o *Options) setDefaults() error {
	if err := protocol.ValidateNodeID(o.NodeID); err != nil {
		return err
	}
	if o.Topics.Prefix() == "" {
		o.Topics, _ = protocol.NewTopics("", "")
	}
	if o.Slots <= 0 {
		o.Slots = runtime.NumCPU()
	}
	if o.Slots > 1<<15 {
		return fmt.Errorf("slots: %d is more than the maximum of %d", o.Slots, 1<<15)
	}
	switch {
	case o.Prefetch == 0:
		o.Prefetch = min(2*o.Slots, 1<<15)
	case o.Prefetch < 0:
		o.Prefetch = 0
	case o.Prefetch > 1<<15:
		return fmt.Errorf("prefetch: %d is more than the maximum of %d", o.Prefetch, 1<<15)
	}
	if o.Batch <= 0 {
		o.Batch = min(o.Slots+o.Prefetch, protocol.MaxBatch)
	}
	if o.Batch > protocol.MaxBatch {
		return fmt.Errorf("batch: %d is more than the maximum of %d", o.Batch, protocol.MaxBatch)
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = 64 << 20
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Software == "" {
		o.Software = "mqcluster"
	}
	return nil
}

// Worker runs tasks it receives from the coordinator.
type Worker struct {
	opts     Options
	log      *slog.Logger
	handlers map[string]HandlerFunc

	conn         transport.Conn
	session      atomic.Uint32
	draining     atomic.Bool
	drainStarted chan struct{} // closed when draining starts
	ready        chan struct{} // a send means the queue may have work
	outboxReady  chan struct{} // a send means the outbox may have results
	sent         chan struct{} // a send means some results were published

	mu              sync.Mutex
	queue           []protocol.Task           // received, not started
	held            map[protocol.TaskRef]bool // queued, running, or finished with the result not yet published
	outbox          []protocol.Result         // results not yet published
	running         map[protocol.TaskRef]context.CancelFunc
	aborted         map[protocol.TaskRef]bool // running tasks an abort message named
	malformed       uint64                    // tasks messages that failed to decode
	lastRepair      time.Time                 // when the retained presence was last announced again
	malformedLogged time.Time                 // when one was last logged
	lastEpoch       uint32                    // the coordinator epoch last seen

	metrics *metrics
}

// New checks opts and returns a worker with no handlers.
func New(opts Options) (*Worker, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{
		opts:         opts,
		log:          opts.Logger.With("node", opts.NodeID),
		handlers:     map[string]HandlerFunc{},
		held:         map[protocol.TaskRef]bool{},
		running:      map[protocol.TaskRef]context.CancelFunc{},
		aborted:      map[protocol.TaskRef]bool{},
		drainStarted: make(chan struct{}),
		ready:        make(chan struct{}, 1),
		outboxReady:  make(chan struct{}, 1),
		sent:         make(chan struct{}, 1),
	}
	w.metrics = newMetrics(w)
	return w, nil
}

// Handle registers h for tasks of kind. Call it before Run.
func (w *Worker) Handle(kind string, h HandlerFunc) error {
	if err := protocol.ValidateKind(kind); err != nil {
		return err
	}
	if len(w.handlers) == protocol.MaxKinds {
		return fmt.Errorf("worker: more than %d kinds", protocol.MaxKinds)
	}
	w.handlers[kind] = h
	return nil
}

// ErrNoHandlers is returned by Run when no handler was registered.
var ErrNoHandlers = errors.New("worker: no task handler registered")
