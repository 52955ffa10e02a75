package worker

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport"
)

// Run connects with dial, announces the node and runs tasks until ctx ends.
// Then it drains: it announces to the coordinator that it takes no more
// tasks, declines the ones not started, finishes the running ones within
// DrainTimeout, sends their results and leaves with a clean death message.
// If the broker goes away, the connection reconnects with backoff, subscribes
// again and announces the node again. Call Run once per Worker.
func (w *Worker) Run(ctx context.Context, dial transport.Dialer) error {
	if len(w.handlers) == 0 {
		return ErrNoHandlers
	}
	if err := w.connect(ctx, dial); err != nil {
		return fmt.Errorf("worker %s: %w", w.opts.NodeID, err)
	}
	w.log.Info("worker started", "slots", w.opts.Slots, "prefetch", w.opts.Prefetch, "batch", w.opts.Batch, "kinds", w.kinds())

	taskCtx, cancelTasks := context.WithCancel(context.Background())
	defer cancelTasks()
	var runners, background sync.WaitGroup
	for range w.opts.Slots {
		runners.Add(1)
		go func() { defer runners.Done(); w.runSlot(taskCtx) }()
	}
	stopHeartbeat, senderDone := make(chan struct{}), make(chan struct{})
	background.Add(2)
	go func() { defer background.Done(); w.heartbeatLoop(stopHeartbeat) }()
	go func() { defer background.Done(); w.sendLoop(senderDone) }()

	<-ctx.Done()
	w.drain(&runners, cancelTasks)
	close(senderDone)
	close(stopHeartbeat)
	background.Wait()
	w.leave()
	return nil
}

// connect dials, subscribes and announces the node. Later connections are
// announced from the transport's OnConnect, once their subscriptions are
// restored.
func (w *Worker) connect(ctx context.Context, dial transport.Dialer) error {
	// Sessions grow from run to run: milliseconds times 16, plus a random
	// 0 to 15 so that two processes started with one id in the same
	// millisecond still differ, which lets the coordinator see them.
	first := uint32(time.Now().UnixMilli())<<4 | uint32(rand.IntN(16))
	presence := w.opts.Topics.Node(w.opts.NodeID, protocol.ChannelPresence)
	started := make(chan struct{})
	w.session.Store(first) // before dialling: OnConnect may store a later one
	conn, err := dial(ctx, transport.Options{
		ClientID:     w.opts.Topics.NodeClientID(w.opts.NodeID),
		KeepAlive:    w.opts.KeepAlive,
		FirstSession: first,
		Will: func(session uint32) transport.Will {
			b, _ := protocol.Encode(&protocol.Death{Session: session, Reason: protocol.DeathConnectionLost})
			return transport.Will{Topic: presence, Payload: b, QoS: 1, Retain: true}
		},
		OnConnect: func(session uint32) {
			w.session.Store(session)
			select {
			case <-started:
				w.announce(session)
			default:
				// The first connection dropped before connect announced
				// it: connect announces this one instead, below.
			}
		},
		OnConnectionLost: func(err error) {
			w.log.Warn("lost the broker connection, reconnecting", "error", err)
		},
		Logger: w.log,
	})
	if err != nil {
		return err
	}
	w.conn = conn
	// The connection can drop right after it is made, for example when
	// another process with this node id takes it over; the client
	// reconnects by itself, so subscribing is tried again.
	for {
		err := w.subscribe(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			conn.Close()
			return err
		}
		w.log.Warn("subscribe failed, retrying", "error", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
	close(started)
	// The session of the latest connection, which is first unless the
	// first connection dropped while subscribing, for example because
	// another process with this node id took it over.
	w.announce(w.session.Load())
	return nil
}

func (w *Worker) subscribe(ctx context.Context) error {
	t := w.opts.Topics
	if err := w.conn.Subscribe(ctx, t.Node(w.opts.NodeID, protocol.ChannelTasks), 1, w.onTasks); err != nil {
		return err
	}
	if err := w.conn.Subscribe(ctx, t.Node(w.opts.NodeID, protocol.ChannelPresence), 1, w.onOwnPresence); err != nil {
		return err
	}
	return w.conn.Subscribe(ctx, t.CoordinatorPresence(), 1, w.onCoordinator)
}

func (w *Worker) kinds() []string {
	return slices.Sorted(maps.Keys(w.handlers))
}

// announce publishes the node's retained birth for session [P-10].
func (w *Worker) announce(session uint32) {
	b, err := protocol.Encode(&protocol.Birth{
		Session: session, Slots: uint16(w.opts.Slots), Batch: uint16(w.opts.Batch), Prefetch: uint16(w.opts.Prefetch),
		MaxPayload: w.opts.MaxPayload, HeartbeatMS: uint32(w.opts.Heartbeat.Milliseconds()),
		Draining: w.draining.Load(),
		NodeID:   w.opts.NodeID, Software: w.opts.Software, Kinds: w.kinds(),
	})
	if err != nil {
		w.log.Error("encode birth failed", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := w.opts.Topics.Node(w.opts.NodeID, protocol.ChannelPresence)
	if err := w.conn.Publish(ctx, topic, 1, true, b); err != nil {
		w.log.Warn("announce failed", "session", session, "error", err)
		return
	}
	w.log.Debug("announced", "session", session, "draining", w.draining.Load())
}

// onOwnPresence repairs the retained presence: when the broker publishes the
// will of an older connection after the current birth, that will replaces
// the retained birth, and a coordinator that starts later would think the
// node offline [P-11].
func (w *Worker) onOwnPresence(msg transport.Message) {
	m, err := protocol.Decode(msg.Payload)
	if err != nil {
		return
	}
	session := w.session.Load()
	var other uint32
	switch m := m.(type) {
	case *protocol.Death:
		// A clean leave is never late: only the node itself publishes one.
		if m.Reason != protocol.DeathConnectionLost || m.Session == session {
			return
		}
		other = m.Session
	case *protocol.Birth:
		if m.Session == session {
			return
		}
		other = m.Session
	default:
		return
	}
	// At most one repair every 5 s: two processes sharing this id would
	// otherwise reply to each other's births for ever.
	w.mu.Lock()
	due := time.Since(w.lastRepair) >= 5*time.Second
	if due {
		w.lastRepair = time.Now()
	}
	w.mu.Unlock()
	if due {
		w.log.Info("presence of another session replaced the retained birth, announcing again", "other_session", other)
		go w.announce(session)
	}
}

// onCoordinator announces the node again when a new coordinator epoch
// appears, so a restarted coordinator learns of the node without waiting for
// the node's next reconnect [P-40].
func (w *Worker) onCoordinator(msg transport.Message) {
	m, err := protocol.Decode(msg.Payload)
	if err != nil {
		return
	}
	switch m := m.(type) {
	case *protocol.CoordinatorOnline:
		w.mu.Lock()
		changed := w.lastEpoch != 0 && w.lastEpoch != m.Epoch
		w.lastEpoch = m.Epoch
		w.mu.Unlock()
		w.log.Info("coordinator online", "epoch", m.Epoch)
		if changed {
			go w.announce(w.session.Load())
		}
	case *protocol.CoordinatorOffline:
		w.log.Warn("coordinator offline, waiting for it to come back", "epoch", m.Epoch)
	}
}

// heartbeatLoop sends the tasks the node holds at QoS 0, so heartbeats do
// not pile up in an outbox while the broker is away [P-20].
func (w *Worker) heartbeatLoop(stop <-chan struct{}) {
	tick := time.NewTicker(w.opts.Heartbeat)
	defer tick.Stop()
	topic := w.opts.Topics.Node(w.opts.NodeID, protocol.ChannelHeartbeat)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		hb := protocol.Heartbeat{Session: w.session.Load(), Running: slices.Collect(maps.Keys(w.held))}
		w.mu.Unlock()
		b, err := protocol.Encode(&hb)
		if err != nil {
			w.log.Error("encode heartbeat failed", "error", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.Heartbeat)
		if err := w.conn.Publish(ctx, topic, 0, false, b); err != nil {
			w.log.Debug("heartbeat not sent", "error", err)
		}
		cancel()
	}
}

// leave publishes the node's clean death and disconnects.
func (w *Worker) leave() {
	b, _ := protocol.Encode(&protocol.Death{Session: w.session.Load(), Reason: protocol.DeathLeft})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	topic := w.opts.Topics.Node(w.opts.NodeID, protocol.ChannelPresence)
	if err := w.conn.Publish(ctx, topic, 1, true, b); err != nil {
		w.log.Warn("announce leaving failed", "error", err)
	}
	w.conn.Close()
	w.log.Info("worker stopped")
}
