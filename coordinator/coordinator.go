// Package coordinator keeps the registry of nodes, the jobs and their tasks,
// and the scheduler that sends tasks to nodes. It talks to nodes through a
// transport.Conn and does not depend on the MQTT client library.
//
// Lock rule: Coordinator.mu guards every field below it in the struct and
// all job, task and node state. Nothing blocks while holding it: messages
// are published only after it is released.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/store"
	"github.com/mqcluster/mqcluster/transport"
)

// Options configure a coordinator. Zero values take the defaults.
type Options struct {
	Topics protocol.Topics // default: protocol.NewTopics("", "")
	// ClientID is the coordinator's MQTT client id; default
	// Topics.CoordinatorClientID of its epoch.
	ClientID    string
	KeepAlive   time.Duration // MQTT keepalive; default 10 s
	MaxAttempts int           // default for jobs that set none; default 3
	// TaskDeadline is how long a node may hold a task before it runs
	// elsewhere; default 60 s.
	TaskDeadline time.Duration
	// HeartbeatMisses is how many heartbeat intervals of silence mark a
	// node offline; default 3.
	HeartbeatMisses int
	Logger          *slog.Logger // default slog.Default()
	Software        string       // shown to nodes in the coordinator's presence
	// Store, if set, keeps jobs, attempts and results across restarts; the
	// coordinator resumes the unfinished jobs it holds. The caller closes it
	// after Close.
	Store *store.Store
	// Retention is how long a finished job stays, in memory and in the
	// store; default 24 h.
	Retention time.Duration
	// NoBackups turns off backup copies of slow tasks on idle nodes.
	NoBackups bool
	// MaxUpload bounds the body of a job submission, in bytes; default
	// DefaultMaxUpload.
	MaxUpload int64
	// ConflictWindow is how long a node id stays in conflict after the
	// last sign of a second process; default 60 s.
	ConflictWindow time.Duration
	// APIToken, if set, is the bearer token the HTTP API requires of every
	// request but those for the dashboard's own files.
	APIToken string
	// MaxResults bounds one results message from a node, in bytes; larger
	// ones are dropped and counted as malformed. Default 256 MiB. The
	// broker's own packet limit should be set to match.
	MaxResults int
}

func (o *Options) setDefaults() {
	if o.Topics.Prefix() == "" {
		o.Topics, _ = protocol.NewTopics("", "")
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.TaskDeadline <= 0 {
		o.TaskDeadline = 60 * time.Second
	}
	if o.HeartbeatMisses <= 0 {
		o.HeartbeatMisses = 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Software == "" {
		o.Software = "mqcluster"
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = DefaultMaxUpload
	}
	if o.ConflictWindow <= 0 {
		o.ConflictWindow = 60 * time.Second
	}
	if o.MaxResults <= 0 {
		o.MaxResults = 256 << 20
	}
}

// Coordinator runs jobs on the nodes of one cluster.
type Coordinator struct {
	opts   Options
	log    *slog.Logger
	conn   transport.Conn
	epoch  uint32
	wake   chan struct{} // a send wakes the dispatcher
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once

	others  chan protocol.CoordinatorOnline // presence of other coordinators, see checkAlone
	started atomic.Bool                     // checkAlone is done

	mu              sync.Mutex
	connected       bool // false while the broker connection is down: no heartbeat timeouts then
	nodes           map[string]*node
	nodeOrder       []string // ids of all nodes, sorted, for round-robin dispatch
	nextNode        int      // index in nodeOrder of the first node of the next dispatch round
	jobs            map[string]*job
	jobOrder        []*job
	tasks           map[uint64]*task // every task of every job, by id
	queue           queue
	nextTask        uint64
	stats           api.Stats
	delayed         []*task                       // tasks waiting out a retry delay
	aborts          map[string][]protocol.TaskRef // abort messages to send, by node, once mu is released
	startTime       time.Time                     // when Start ran, for the grace given to restored attempts
	metrics         *metrics
	drops           dropLimiter
	births          birthGate
	lastJanitor     time.Time // when finished jobs were last checked against Retention
	lastBackupCheck time.Time // when the sweep last woke the dispatcher to look for stragglers
}

// Start connects to the broker with dial, subscribes to the nodes' topics,
// announces the coordinator and starts the dispatcher. Call Close to stop.
func Start(ctx context.Context, dial transport.Dialer, opts Options) (*Coordinator, error) {
	opts.setDefaults()
	c := &Coordinator{
		opts: opts,
		log:  opts.Logger,
		// Milliseconds, so that two coordinators started in the same second
		// still differ; the value wraps every 49 days, and only equality
		// matters.
		epoch:  uint32(time.Now().UnixMilli()),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		others: make(chan protocol.CoordinatorOnline, 1),
		nodes:  map[string]*node{},
		jobs:   map[string]*job{},
		tasks:  map[uint64]*task{},
		queue:  newQueue(),
		aborts: map[string][]protocol.TaskRef{},
	}
	// Task ids start from the epoch so that a result for a task of an
	// earlier coordinator run can never match a task of this one.
	c.nextTask = uint64(c.epoch) << 32
	c.metrics = newMetrics(c)
	if opts.ClientID == "" {
		opts.ClientID = opts.Topics.CoordinatorClientID(c.epoch)
		c.opts.ClientID = opts.ClientID
	}
	c.startTime = time.Now()
	if opts.Store != nil {
		loaded, err := opts.Store.Load()
		if err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
		c.restore(loaded)
	}

	offline, err := protocol.Encode(&protocol.CoordinatorOffline{Epoch: c.epoch})
	if err != nil {
		return nil, err
	}
	started := make(chan struct{})
	conn, err := dial(ctx, transport.Options{
		ClientID:  opts.ClientID,
		KeepAlive: opts.KeepAlive,
		Will: func(uint32) transport.Will {
			return transport.Will{Topic: opts.Topics.CoordinatorPresence(), Payload: offline, QoS: 1, Retain: true}
		},
		OnConnect: func(uint32) {
			select {
			case <-started: // Start announces the first connection itself, once subscribed
				c.onConnect()
			default:
			}
		},
		OnConnectionLost: c.onConnectionLost,
		Logger:           opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	c.conn = conn
	if err := c.subscribe(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	if err := c.checkAlone(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	close(started)
	c.onConnect()
	c.wg.Add(2)
	go c.dispatchLoop()
	go c.sweepLoop()
	c.log.Info("coordinator started", "cluster", opts.Topics.Prefix(), "epoch", c.epoch)
	c.logNodesAtStart()
	return c, nil
}

func (c *Coordinator) subscribe(ctx context.Context) error {
	t := c.opts.Topics
	subs := []struct {
		channel string
		qos     byte
		handle  func(id string, m protocol.Message)
	}{
		{protocol.ChannelPresence, 1, c.handlePresence},
		{protocol.ChannelHeartbeat, 0, c.handleHeartbeat},
		{protocol.ChannelResults, 1, c.handleResults},
	}
	for _, s := range subs {
		if err := c.conn.Subscribe(ctx, t.AllNodes(s.channel), s.qos, c.decoded(s.channel, s.handle)); err != nil {
			return err
		}
	}
	return nil
}

// decoded wraps a message handler: it checks the topic and decodes the
// payload, and counts and logs what it drops.
func (c *Coordinator) decoded(channel string, handle func(string, protocol.Message)) transport.Handler {
	return func(msg transport.Message) {
		id, ch, ok := c.opts.Topics.ParseNode(msg.Topic)
		if !ok || ch != channel {
			return
		}
		if len(msg.Payload) == 0 && msg.Retained {
			return // a cleared retained message
		}
		if limit := c.maxMessage(channel); len(msg.Payload) > limit {
			c.dropMalformed(id, channel, fmt.Errorf("%w: message of %d bytes, more than the %d a %s message may have",
				protocol.ErrInvalid, len(msg.Payload), limit, channel))
			return
		}
		m, err := protocol.Decode(msg.Payload)
		if err != nil {
			c.dropMalformed(id, channel, err)
			return
		}
		handle(id, m)
	}
}

// maxMessage returns the largest message accepted on a node channel:
// presence and heartbeats are small, and results are bounded by MaxResults.
func (c *Coordinator) maxMessage(channel string) int {
	switch channel {
	case protocol.ChannelPresence:
		return 4 << 10
	case protocol.ChannelHeartbeat:
		return 16 + 10*(1<<16)
	}
	return c.opts.MaxResults
}

func (c *Coordinator) dropMalformed(id, channel string, err error) {
	c.mu.Lock()
	c.stats.Malformed++
	n := c.stats.Malformed
	logIt, suppressed := c.drops.allow("malformed", id, time.Now())
	c.mu.Unlock()
	if logIt {
		c.log.Warn("dropped malformed message", "node", id, "channel", channel, "error", err,
			"malformed_total", n, "not_logged_since_last", suppressed)
	}
}

// onConnect announces the coordinator after every (re)connect. Nodes that
// see a new epoch announce themselves again.
func (c *Coordinator) onConnect() {
	c.mu.Lock()
	c.connected = true
	now := time.Now()
	// Heartbeats could not arrive while the connection was down, so the
	// silence is ours, not the nodes'.
	for _, n := range c.nodes {
		if n.online {
			n.lastSeen = now
		}
	}
	c.mu.Unlock()
	online, _ := protocol.Encode(&protocol.CoordinatorOnline{Epoch: c.epoch, Software: c.opts.Software})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Publish(ctx, c.opts.Topics.CoordinatorPresence(), 1, true, online); err != nil {
		c.log.Error("announce coordinator failed", "error", err)
	}
	c.kick()
}

func (c *Coordinator) onConnectionLost(err error) {
	c.mu.Lock()
	c.connected = false
	c.mu.Unlock()
	c.log.Warn("lost the broker connection, reconnecting", "error", err)
}

// Close announces that the coordinator is leaving, stops its loops and
// disconnects. Jobs in memory are lost.
func (c *Coordinator) Close() {
	c.closed.Do(func() {
		close(c.stop)
		c.wg.Wait()
		offline, _ := protocol.Encode(&protocol.CoordinatorOffline{Epoch: c.epoch})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.conn.Publish(ctx, c.opts.Topics.CoordinatorPresence(), 1, true, offline); err != nil {
			c.log.Warn("announce coordinator offline failed", "error", err)
		}
		c.conn.Close()
		c.log.Info("coordinator stopped", "epoch", c.epoch)
	})
}

// kick wakes the dispatcher without blocking.
func (c *Coordinator) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stats returns the coordinator's counters.
func (c *Coordinator) Stats() api.Stats {
	c.mu.Lock()
	st := c.stats
	c.mu.Unlock()
	if c.opts.Store != nil {
		c.opts.Store.Flush()
		st.ResultsOverwritten, _ = c.opts.Store.Counter(store.CounterResultsOverwritten)
	}
	return st
}

// ErrNotFound is returned for a job id that the coordinator does not know.
var ErrNotFound = errors.New("not found")
