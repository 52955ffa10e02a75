package coordinator

import (
	"slices"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
)

// node is one worker node. Its liveness is judged by lastSeen, taken from
// the coordinator's own monotonic clock when a message arrives, never from
// the node's clock [P-20].
type node struct {
	id       string
	birth    protocol.Birth
	kinds    map[string]bool
	online   bool
	reason   string // the cause of going offline
	lastSeen time.Time
	// inflight holds the attempts that count against the node's slots:
	// sent and without a result yet, including ones past their deadline
	// that the node still lists in its heartbeats.
	inflight map[protocol.TaskRef]*attempt
	done     uint64
	failed   uint64
	// bytesPerSecond is the node's payload rate, a moving average over its
	// accepted results; 0 until the first.
	bytesPerSecond float64
	conflict       bool        // another process uses this node id; see noteSessionLocked
	sessions       []time.Time // when births or heartbeats of older sessions came, in the last ConflictWindow
	maxSession     uint32      // the newest session seen
	maxSeen        time.Time   // when maxSession was last heard from; zero once its death came
}

// newerAlive reports whether a session newer than session was heard from
// recently: then a message of session means a second process with the id.
// Once the newest process stops, the older one's messages no longer count,
// so the conflict lifts after the window.
func (n *node) newerAlive(session uint32, now time.Time) bool {
	return olderSession(session, n.maxSession) && !n.maxSeen.IsZero() && now.Sub(n.maxSeen) < 3*n.heartbeatInterval()
}

// Two processes with one node id take turns kicking each other off the
// broker, or, on some brokers, both stay connected. Each numbers its own
// sessions upwards, so their sessions interleave and a session older than
// the newest seen keeps coming back. A restarted node never does that,
// because its sessions only grow: a late resent birth or a board whose
// counter was reset brings an older session back only once.
// conflictSessions such events within Options.ConflictWindow mark the id as
// in conflict; a ConflictWindow without one clears it.
const conflictSessions = 3

// noteSessionLocked records a birth or a heartbeat of a session older than
// the newest of n, and reports an id conflict when they come too fast.
func (c *Coordinator) noteSessionLocked(n *node, now time.Time) {
	kept := n.sessions[:0]
	for _, at := range n.sessions {
		if now.Sub(at) < c.opts.ConflictWindow {
			kept = append(kept, at)
		}
	}
	n.sessions = append(kept, now)
	if n.conflict || len(n.sessions) < conflictSessions {
		return
	}
	n.conflict = true
	c.stats.IDConflicts++
	c.log.Error("node id used by more than one process: it gets no tasks until one stops; give each process its own --id",
		"node", n.id, "new_sessions", len(n.sessions), "window", c.opts.ConflictWindow.String())
	for ref, a := range n.inflight {
		delete(n.inflight, ref)
		if a.state == attemptRunning {
			c.endAttemptLocked(a, attemptLost, "node id "+n.id+" is used by more than one process", now)
		}
	}
}

// clearConflictsLocked lifts the conflict of ids whose sessions settled.
func (c *Coordinator) clearConflictsLocked(now time.Time) {
	for _, n := range c.nodes {
		if n.conflict && len(n.sessions) > 0 && now.Sub(n.sessions[len(n.sessions)-1]) >= c.opts.ConflictWindow {
			n.conflict, n.sessions = false, nil
			c.log.Info("node id conflict over: no older session for "+c.opts.ConflictWindow.String(), "node", n.id)
			c.kick()
		}
	}
}

// observeRate folds one accepted result into the node's payload rate.
func (n *node) observeRate(payload int, took time.Duration) {
	if took <= 0 || payload == 0 {
		return
	}
	rate := float64(payload) / took.Seconds()
	if n.bytesPerSecond == 0 {
		n.bytesPerSecond = rate
		return
	}
	n.bytesPerSecond = 0.8*n.bytesPerSecond + 0.2*rate
}

// heartbeatInterval returns the interval the node announced, at least
// 100 ms, so that a birth claiming 0 cannot make every heartbeat late.
func (n *node) heartbeatInterval() time.Duration {
	return max(time.Duration(n.birth.HeartbeatMS)*time.Millisecond, 100*time.Millisecond)
}

func (n *node) timeout(misses int) time.Duration {
	interval := n.heartbeatInterval()
	return interval*time.Duration(misses) + interval/2
}

// olderSession reports whether session a came before b, in serial number
// arithmetic, so that the comparison holds across the wrap of 32 bits.
func olderSession(a, b uint32) bool {
	return int32(a-b) < 0
}

// room returns how many more tasks n can take: its free slots, plus its
// prefetch when withPrefetch is set.
func (n *node) room(withPrefetch bool) int {
	held := int(n.birth.Slots)
	if withPrefetch {
		held += int(n.birth.Prefetch)
	}
	return held - len(n.inflight)
}

func (c *Coordinator) handlePresence(id string, m protocol.Message) {
	switch m := m.(type) {
	case *protocol.Birth:
		if m.NodeID != id {
			c.dropMalformed(id, protocol.ChannelPresence, errBirthID(m.NodeID))
			return
		}
		c.handleBirth(m)
	case *protocol.Death:
		c.handleDeath(id, m)
	default:
		c.dropMalformed(id, protocol.ChannelPresence, errUnexpected(m))
	}
}

func (c *Coordinator) handleBirth(b *protocol.Birth) {
	c.mu.Lock()
	now := time.Now()
	n, known := c.nodes[b.NodeID]
	if !c.births.allow(now) || (!known && len(c.nodes) >= maxNodes) {
		// A flood of births, or of made-up node ids: drop, count, and log
		// at most every logEvery.
		c.stats.BirthsDropped++
		logIt, suppressed := c.drops.allow("birth", "", now)
		c.mu.Unlock()
		if logIt {
			c.log.Warn("dropped births: too many per second or too many nodes", "node", b.NodeID,
				"per_second", maxBirthsPerSecond, "max_nodes", maxNodes, "not_logged_since_last", suppressed)
		}
		return
	}
	if known && n.newerAlive(b.Session, now) {
		c.noteSessionLocked(n, now)
	}
	if known && n.online && olderSession(b.Session, n.birth.Session) {
		// A birth of an older connection, resent late by its client's
		// outbox: the node's current session remains in force [P-10]. Once
		// the node is offline any birth counts, so a board whose counter was
		// reset can join again.
		c.stats.StalePresence++
		c.mu.Unlock()
		c.log.Info("ignored stale birth", "node", b.NodeID, "birth_session", b.Session, "session", n.birth.Session)
		return
	}
	if !known {
		n = &node{id: b.NodeID, inflight: map[protocol.TaskRef]*attempt{}}
		c.nodes[n.id] = n
		c.nodeOrder = append(c.nodeOrder, n.id)
		slices.Sort(c.nodeOrder)
	}
	wasOnline, oldSession := n.online, n.birth.Session
	inflight := len(n.inflight)
	n.birth = *b
	if !known || olderSession(n.maxSession, b.Session) {
		n.maxSession = b.Session
	}
	if b.Session == n.maxSession {
		n.maxSeen = now
	}
	n.birth.Kinds = slices.Clone(b.Kinds)
	n.kinds = map[string]bool{}
	for _, k := range b.Kinds {
		n.kinds[k] = true
	}
	n.online, n.reason = true, ""
	n.lastSeen = time.Now()
	c.mu.Unlock()

	switch {
	case (!known || !wasOnline) && !c.started.Load():
		// The retained births of nodes arrive while Start checks for another
		// coordinator. If there is one, this coordinator stops, so these
		// are not news yet: logNodesAtStart logs them once it runs.
		c.log.Debug("node seen at start", "node", b.NodeID, "session", b.Session)
	case !known || !wasOnline:
		c.log.Info("node joined", "node", b.NodeID, "session", b.Session, "kinds", b.Kinds,
			"slots", b.Slots, "batch", b.Batch, "max_payload", b.MaxPayload, "software", b.Software)
	case b.Draining:
		c.log.Info("node draining", "node", b.NodeID, "in_flight", inflight)
	case oldSession != b.Session:
		// The node reconnected. Tasks it held stay assigned: its heartbeats
		// tell which it still has, and the rest go back to the queue.
		c.log.Info("node reconnected", "node", b.NodeID, "session", b.Session, "old_session", oldSession)
	}
	c.kick()
}

// handleDeath marks a node offline, unless the death belongs to an older
// connection: a node that reconnects before the broker publishes its old
// will stays online [P-11].
func (c *Coordinator) handleDeath(id string, d *protocol.Death) {
	c.mu.Lock()
	n := c.nodes[id]
	if n != nil && !n.online && n.birth.Session == 0 && len(n.inflight) > 0 {
		// A node known only from the store, whose retained presence shows it
		// is gone: its restored attempts run elsewhere now.
		c.loseNodeLocked(n, "gone while the coordinator was down")
		c.mu.Unlock()
		c.kick()
		return
	}
	if n == nil || !n.online {
		c.mu.Unlock()
		return
	}
	if d.Session != n.birth.Session {
		if d.Session == n.maxSession {
			n.maxSeen = time.Time{} // the newest process with this id is gone
		}
		c.stats.StalePresence++
		c.mu.Unlock()
		c.log.Info("ignored stale will", "node", id, "will_session", d.Session, "session", n.birth.Session)
		return
	}
	reason := "connection lost"
	if d.Reason == protocol.DeathLeft {
		reason = "left"
	}
	c.loseNodeLocked(n, reason)
	c.mu.Unlock()
	c.kick()
}

func (c *Coordinator) handleHeartbeat(id string, m protocol.Message) {
	hb, ok := m.(*protocol.Heartbeat)
	if !ok {
		c.dropMalformed(id, protocol.ChannelHeartbeat, errUnexpected(m))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	if n != nil && hb.Session == n.maxSession {
		n.maxSeen = time.Now()
	}
	if n != nil && n.newerAlive(hb.Session, time.Now()) {
		// A heartbeat of an older session while a newer one is alive:
		// two processes share the id.
		c.noteSessionLocked(n, time.Now())
	}
	if n == nil || hb.Session != n.birth.Session {
		return // a heartbeat of a connection whose birth we have not seen
	}
	now := time.Now()
	n.lastSeen = now
	if !n.online {
		// Marked offline for silence, but the connection lived on (a
		// stopped process that was continued): take it back.
		n.online, n.reason = true, ""
		c.log.Info("node back after heartbeat timeout", "node", id, "session", hb.Session)
		c.kick()
	}
	c.reconcileLocked(n, hb, now)
}

// reconcileLocked puts back in the queue the tasks that the node should hold
// but does not list. A task message can be lost when the node reconnects with
// a clean session while it is in flight. Attempts younger than two heartbeat
// intervals are left alone, since the heartbeat may have overtaken them.
func (c *Coordinator) reconcileLocked(n *node, hb *protocol.Heartbeat, now time.Time) {
	if len(n.inflight) == 0 {
		return
	}
	held := make(map[protocol.TaskRef]bool, len(hb.Running))
	for _, r := range hb.Running {
		held[r] = true
	}
	grace := 2 * n.heartbeatInterval()
	for ref, a := range n.inflight {
		if held[ref] || now.Sub(a.started) < grace {
			continue
		}
		delete(n.inflight, ref)
		if a.state == attemptRunning {
			c.endAttemptLocked(a, attemptLost, "node "+n.id+" does not hold the task (message lost?)", now)
		}
		c.kick()
	}
}

// loseNodeLocked marks n offline and puts its tasks back in the queue at
// once, so that they run elsewhere.
func (c *Coordinator) loseNodeLocked(n *node, reason string) {
	n.online, n.reason = false, reason
	now := time.Now()
	requeued := 0
	for ref, a := range n.inflight {
		delete(n.inflight, ref)
		if a.state == attemptRunning {
			c.endAttemptLocked(a, attemptLost, "node "+n.id+" lost: "+reason, now)
			requeued++
		}
	}
	if reason == "left" {
		c.log.Info("node left", "node", n.id, "session", n.birth.Session, "tasks_requeued", requeued)
		return
	}
	c.log.Warn("node lost", "node", n.id, "reason", reason, "session", n.birth.Session, "tasks_requeued", requeued)
}

// sweepLoop finds nodes that went silent and attempts past their deadline.
func (c *Coordinator) sweepLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			c.sweep(now)
		}
	}
}

func (c *Coordinator) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connected {
		for _, id := range c.nodeOrder {
			n := c.nodes[id]
			if n.online && now.Sub(n.lastSeen) > n.timeout(c.opts.HeartbeatMisses) {
				c.loseNodeLocked(n, "no heartbeat for "+now.Sub(n.lastSeen).Round(time.Millisecond).String())
				c.kick()
			}
		}
	}
	c.expireRestoredLocked(now)
	c.wakeDelayedLocked(now)
	c.clearConflictsLocked(now)
	if !c.opts.NoBackups && now.Sub(c.lastBackupCheck) >= 200*time.Millisecond {
		// A task becomes a straggler by growing old, which no message
		// announces: look again for idle nodes to back it up on.
		c.lastBackupCheck = now
		c.kick()
	}
	if now.Sub(c.lastJanitor) >= time.Second {
		c.lastJanitor = now
		c.dropExpiredJobsLocked(now)
	}
	for _, n := range c.nodes {
		for _, a := range n.inflight {
			if a.state == attemptRunning && now.After(a.deadline) {
				// The attempt keeps its slot on the node until a result
				// arrives or the node stops listing it in its heartbeats.
				c.endAttemptLocked(a, attemptTimedOut, "deadline of "+a.deadline.Sub(a.started).String()+" exceeded on node "+a.node, now)
				c.kick()
			}
		}
	}
}

// Nodes returns every node the coordinator has seen, sorted by id.
func (c *Coordinator) Nodes() []api.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]api.Node, 0, len(c.nodeOrder))
	for _, id := range c.nodeOrder {
		n := c.nodes[id]
		state := api.NodeOffline
		switch {
		case n.online && n.conflict:
			state = api.NodeConflict
		case n.online && n.birth.Draining:
			state = api.NodeDraining
		case n.online:
			state = api.NodeOnline
		}
		out = append(out, api.Node{
			ID: n.id, State: state, Reason: n.reason,
			Kinds: slices.Clone(n.birth.Kinds), Slots: int(n.birth.Slots), Batch: int(n.birth.Batch),
			Prefetch: int(n.birth.Prefetch), MaxPayload: int64(n.birth.MaxPayload), InFlight: len(n.inflight),
			Done: n.done, Failed: n.failed, Software: n.birth.Software, Session: n.birth.Session,
			LastSeen: n.lastSeen,
		})
	}
	return out
}

// wakeDelayedLocked runs the dispatcher when a delayed retry comes due.
func (c *Coordinator) wakeDelayedLocked(now time.Time) {
	kept := c.delayed[:0]
	for _, t := range c.delayed {
		if now.Before(t.notBefore) && t.state == api.TaskQueued {
			kept = append(kept, t)
			continue
		}
		c.kick()
	}
	clear(c.delayed[len(kept):])
	c.delayed = kept
}

// logNodesAtStart logs the nodes that announced themselves before the
// coordinator was known to be the only one.
func (c *Coordinator) logNodesAtStart() {
	c.mu.Lock()
	var births []protocol.Birth
	for _, id := range c.nodeOrder {
		if n := c.nodes[id]; n.online {
			births = append(births, n.birth)
		}
	}
	c.mu.Unlock()
	for _, b := range births {
		c.log.Info("node joined", "node", b.NodeID, "session", b.Session, "kinds", b.Kinds,
			"slots", b.Slots, "batch", b.Batch, "max_payload", b.MaxPayload, "software", b.Software)
	}
}
