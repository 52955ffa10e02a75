package coordinator

import (
	"context"
	"slices"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
)

// queue holds the queued tasks, one FIFO list per kind. Tasks are removed
// lazily: a list may still hold a task that has since finished (a late
// result won), and pops skip it.
type queue struct {
	byKind map[string][]*task
}

func newQueue() queue { return queue{byKind: map[string][]*task{}} }

func (q *queue) pushBack(t *task) {
	t.queuedAt = time.Now()
	q.byKind[t.kind] = append(q.byKind[t.kind], t)
}

// pushFront puts a task that already ran back ahead of the tasks that never
// did, so a retried task does not wait behind a whole job.
func (q *queue) pushFront(t *task) {
	t.queuedAt = time.Now()
	list := q.byKind[t.kind]
	list = append(list, nil)
	copy(list[1:], list)
	list[0] = t
	q.byKind[t.kind] = list
}

// kindsByAge returns kinds ordered by how long the first queued task of each
// has waited, longest first, so that a long queue of one kind cannot starve
// another kind on a node that runs both. Kinds with nothing queued are left
// out.
func (q *queue) kindsByAge(kinds []string) []string {
	type head struct {
		kind string
		at   time.Time
	}
	var heads []head
	for _, kind := range kinds {
		for _, t := range q.byKind[kind] {
			if t.state == api.TaskQueued {
				heads = append(heads, head{kind, t.queuedAt})
				break
			}
		}
	}
	slices.SortFunc(heads, func(a, b head) int { return a.at.Compare(b.at) })
	out := make([]string, len(heads))
	for i, h := range heads {
		out[i] = h.kind
	}
	return out
}

// scanLimit bounds how far take looks past tasks too large for a node.
const scanLimit = 256

// maxMessageBytes caps the payloads one tasks message carries, unless a
// single payload is larger, so that batching never builds a packet that a
// broker's packet size limit refuses.
const maxMessageBytes = 8 << 20

// take appends to out up to max queued tasks of kind whose payload is at
// most maxPayload bytes and for which avoid returns false, oldest first,
// while the payloads in out stay within *budget bytes (the first task
// always fits). It removes them from the queue.
func (q *queue) take(kind string, max int, maxPayload uint32, budget *int, avoid func(*task) bool, out []*task) []*task {
	list := q.byKind[kind]
	keep := list[:0]
	scanned := 0
	i := 0
	for ; i < len(list) && max > 0 && scanned < scanLimit; i++ {
		t := list[i]
		switch {
		case t.state != api.TaskQueued:
			// finished while queued: drop it
		case len(out) > 0 && len(t.payload) > *budget:
			max = 0 // the message is full: leave t first in the queue
			i--
		case uint64(len(t.payload)) > uint64(maxPayload), avoid(t):
			keep = append(keep, t)
			scanned++
		default:
			out = append(out, t)
			*budget -= len(t.payload)
			max--
		}
	}
	// Move the tasks passed over to just before the unscanned rest and
	// slice from there: the cost is the part scanned, not the whole queue.
	start := i - len(keep)
	copy(list[start:i], keep)
	rest := list[start:]
	if len(rest) == 0 {
		delete(q.byKind, kind)
	} else {
		q.byKind[kind] = rest
	}
	return out
}

// dispatchLoop sends queued tasks to nodes with free slots whenever
// something changes: a job arrives, a node joins, a result frees a slot.
func (c *Coordinator) dispatchLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
			c.dispatch()
		}
	}
}

type outgoing struct {
	node  string
	tasks []*task
	msg   protocol.Tasks
}

// dispatch fills free slots, then each node's prefetch. A node gets at
// most min(room, batch) tasks in one message, and a lone task goes out at
// once: nothing waits for a batch to fill [P-30]. Slots come first so that
// a short queue spreads over the nodes rather than piling onto the first.
func (c *Coordinator) dispatch() {
	c.mu.Lock()
	if !c.connected {
		c.mu.Unlock()
		return
	}
	var out []*outgoing
	byNode := map[string]*outgoing{}
	now := time.Now()
	n := len(c.nodeOrder)
	fill := func(prefetchable map[string]bool) {
		for i := 0; i < n; i++ {
			nd := c.nodes[c.nodeOrder[(c.nextNode+i)%n]]
			o := byNode[nd.id]
			if o == nil {
				o = &outgoing{node: nd.id, msg: protocol.Tasks{Epoch: c.epoch}}
			}
			if c.fillNodeLocked(nd, now, prefetchable, o) && byNode[nd.id] == nil {
				byNode[nd.id] = o
				out = append(out, o)
			}
		}
	}
	fill(nil)
	if prefetchable := c.prefetchableLocked(); len(prefetchable) > 0 {
		fill(prefetchable)
	}
	if n > 0 {
		c.nextNode = (c.nextNode + 1) % n
	}
	c.mu.Unlock()

	c.send(out)
	if len(out) > 0 {
		c.kick() // a node with more free slots than its batch takes another message
	}
}

// prefetchableLocked returns the kinds whose queue is at least as long as
// the slots of the nodes that run them. Prefetching a kind with fewer
// tasks queued would leave a task waiting behind a running one while a
// slot elsewhere frees and finds nothing, which lengthens the end of a job.
func (c *Coordinator) prefetchableLocked() map[string]bool {
	slots := map[string]int{}
	for _, nd := range c.nodes {
		if nd.online && !nd.birth.Draining && !nd.conflict && nd.birth.Prefetch > 0 {
			for _, kind := range nd.birth.Kinds {
				slots[kind] += int(nd.birth.Slots)
			}
		}
	}
	out := map[string]bool{}
	for kind, n := range slots {
		if len(c.queue.byKind[kind]) >= n {
			out[kind] = true
		}
	}
	return out
}

// fillNodeLocked adds to o tasks for nd's free slots, or with
// prefetchable set, for its prefetch as well, from those kinds only, and
// reports whether it added any. A backup copy of a straggler only takes a
// free slot.
func (c *Coordinator) fillNodeLocked(nd *node, now time.Time, prefetchable map[string]bool, o *outgoing) bool {
	prefetch := prefetchable != nil
	free := min(nd.room(prefetch), int(nd.birth.Batch)-len(o.tasks))
	if !nd.online || nd.birth.Draining || nd.conflict || free <= 0 {
		return false
	}
	var picked []*task
	budget := maxMessageBytes
	for _, t := range o.tasks {
		budget -= len(t.payload)
	}
	avoid := func(t *task) bool { return now.Before(t.notBefore) || c.betterNodeExistsLocked(t, nd) }
	for _, kind := range c.queue.kindsByAge(nd.birth.Kinds) {
		if prefetch && !prefetchable[kind] {
			continue
		}
		picked = c.queue.take(kind, free-len(picked), nd.birth.MaxPayload, &budget, avoid, picked)
		if len(picked) == free {
			break
		}
	}
	if len(picked) == 0 && !prefetch {
		if t := c.stragglerLocked(nd, now); t != nil {
			c.stats.Backups++
			c.log.Info("backup copy of a slow task", "job", t.job.id, "task", t.index, "node", nd.id)
			picked = append(picked, t)
		}
	}
	for _, t := range picked {
		limit := c.deadlineLocked(t, nd, len(nd.inflight))
		a := &attempt{
			task: t, number: uint16(len(t.attempts) + 1), node: nd.id,
			started: now, deadline: now.Add(limit),
		}
		t.attempts = append(t.attempts, a)
		c.saveAttemptLocked(a)
		c.observeDispatchLocked(t, now)
		nd.inflight[protocol.TaskRef{ID: t.id, Attempt: a.number}] = a
		if t.state != api.TaskRunning {
			c.setTaskStateLocked(t, api.TaskRunning)
		}
		t.job.started = true
		o.tasks = append(o.tasks, t)
		o.msg.Tasks = append(o.msg.Tasks, protocol.Task{
			ID: t.id, Attempt: a.number, DeadlineMS: uint32(limit.Milliseconds()),
			Kind: t.kind, Payload: t.payload,
		})
	}
	if len(picked) > 0 && len(o.tasks) == len(picked) {
		c.stats.TaskMessages++
	}
	c.stats.TasksDispatched += uint64(len(picked))
	return len(picked) > 0
}

// deadlineLocked returns how long nd may keep t when it already has ahead
// tasks. The limit is TaskDeadline plus four times the time nd is expected
// to take for a payload of t's size at the rate it has shown. So a large
// tile on a slow board is not given up too early. A prefetched task may
// first wait while the tasks ahead of it run, so its deadline has one more
// limit for each round of slots ahead.
func (c *Coordinator) deadlineLocked(t *task, nd *node, ahead int) time.Duration {
	limit := c.opts.TaskDeadline
	if nd.bytesPerSecond > 0 {
		expected := time.Duration(float64(len(t.payload)) / nd.bytesPerSecond * float64(time.Second))
		limit += 4 * expected
	}
	rounds := 1 + ahead/int(nd.birth.Slots)
	return time.Duration(rounds) * limit
}

// stragglerLocked returns a task to copy onto the idle node nd, or nil: a
// task running alone for more than three times its job's mean task time,
// at least 100 ms, in a job with no task left in the queue. The first
// result of either copy wins, as MapReduce does with backup tasks.
func (c *Coordinator) stragglerLocked(nd *node, now time.Time) *task {
	if c.opts.NoBackups {
		return nil
	}
	var slowest *task
	var slowestAge time.Duration
	for _, other := range c.nodes {
		for _, a := range other.inflight {
			t := a.task
			j := t.job
			if a.state != attemptRunning || t.state != api.TaskRunning || j.count[api.TaskQueued] > 0 || j.doneCount == 0 ||
				!nd.kinds[t.kind] || uint64(len(t.payload)) > uint64(nd.birth.MaxPayload) || t.runningAttempts() > 1 ||
				a.node == nd.id || t.triedOn(nd.id) {
				continue
			}
			age := now.Sub(a.started)
			threshold := max(3*j.doneTime/time.Duration(j.doneCount), 100*time.Millisecond)
			if age > threshold && age > slowestAge {
				slowest, slowestAge = t, age
			}
		}
	}
	return slowest
}

// send publishes the tasks messages of one dispatch round, all in flight
// at once rather than each waiting for the acknowledgement of the one
// before. The attempts of a message that fails end as lost, and their tasks
// go back to the queue.
func (c *Coordinator) send(out []*outgoing) {
	if len(out) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waits := make([]func(context.Context) error, len(out))
	errs := make([]error, len(out))
	for i, o := range out {
		payload, err := protocol.Encode(&o.msg)
		if err != nil {
			errs[i] = err
			continue
		}
		waits[i] = c.conn.PublishAsync(c.opts.Topics.Node(o.node, protocol.ChannelTasks), 1, false, payload)
	}
	for i, o := range out {
		if waits[i] != nil {
			errs[i] = waits[i](ctx)
		}
		if errs[i] != nil {
			c.sendFailed(o, errs[i])
		} else {
			c.log.Debug("tasks sent", "node", o.node, "tasks", len(o.tasks))
		}
	}
}

// sendFailed ends the attempts of o as lost, so that their tasks run again.
func (c *Coordinator) sendFailed(o *outgoing, err error) {
	c.log.Warn("send tasks failed", "node", o.node, "tasks", len(o.tasks), "error", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[o.node]
	now := time.Now()
	for i, t := range o.tasks {
		ref := protocol.TaskRef{ID: t.id, Attempt: o.msg.Tasks[i].Attempt}
		if a := nd.inflight[ref]; a != nil && a.state == attemptRunning {
			delete(nd.inflight, ref)
			c.endAttemptLocked(a, attemptLost, "send to node "+o.node+" failed: "+err.Error(), now)
		}
	}
	c.kick()
}

// betterNodeExistsLocked reports whether t already failed or was lost on nd
// while another node that can run t has not: the task then waits for that
// node, so one bad node cannot use up all of a task's attempts.
func (c *Coordinator) betterNodeExistsLocked(t *task, nd *node) bool {
	if len(t.attempts) == 0 || !t.triedOn(nd.id) {
		return false
	}
	for _, other := range c.nodes {
		if other != nd && other.online && !other.birth.Draining && other.kinds[t.kind] &&
			uint64(len(t.payload)) <= uint64(other.birth.MaxPayload) && !t.triedOn(other.id) {
			return true
		}
	}
	return false
}
