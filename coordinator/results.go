package coordinator

import (
	"bytes"
	"fmt"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
)

func (c *Coordinator) handleResults(id string, m protocol.Message) {
	rs, ok := m.(*protocol.Results)
	if !ok {
		c.dropMalformed(id, protocol.ChannelResults, errUnexpected(m))
		return
	}
	c.mu.Lock()
	n := c.nodes[id]
	if n == nil {
		c.stats.ForeignResults += uint64(len(rs.Results))
		logIt, suppressed := c.drops.allow("unknown-node", id, time.Now())
		c.mu.Unlock()
		if logIt {
			c.log.Warn("dropped results of an unknown node", "node", id, "results", len(rs.Results),
				"not_logged_since_last", suppressed)
		}
		return
	}
	n.lastSeen = time.Now()
	for _, r := range rs.Results {
		c.acceptResultLocked(n, r)
	}
	aborts := c.aborts
	c.aborts = map[string][]protocol.TaskRef{}
	c.mu.Unlock()
	for node, refs := range aborts {
		c.sendAbort(node, refs)
	}
	c.kick()
}

// acceptResultLocked records one result. Each task's result is accepted
// exactly once: the first result of any of its attempts wins, even one that
// arrives after its deadline or after its node was given up for lost, and
// every later one is dropped and counted [P-32].
func (c *Coordinator) acceptResultLocked(n *node, r protocol.Result) {
	t := c.tasks[r.ID]
	var a *attempt
	if t != nil {
		a = t.attempt(r.Attempt)
	}
	if a == nil || a.node != n.id {
		// Only the node a task attempt was given to may answer for it.
		c.stats.ForeignResults++
		if logIt, suppressed := c.drops.allow("foreign", n.id, time.Now()); logIt {
			c.log.Warn("dropped result for a task the node was not given", "node", n.id, "task_id", r.ID,
				"attempt", r.Attempt, "not_logged_since_last", suppressed)
		}
		return
	}
	if a.answered {
		c.stats.DuplicatesDropped++ // a QoS 1 redelivery
		return
	}
	a.answered = true
	delete(n.inflight, protocol.TaskRef{ID: r.ID, Attempt: r.Attempt})
	now := time.Now()

	if t.state == api.TaskDone || t.state == api.TaskFailed || t.state == api.TaskCancelled {
		c.stats.DuplicatesDropped++ // another attempt won
		if a.state == attemptRunning {
			a.state, a.ended = attemptSuperseded, now
			c.saveAttemptLocked(a)
		}
		return
	}
	if r.Status != protocol.StatusOK {
		reason := fmt.Sprintf("node %s: %s", n.id, bytes.ToValidUTF8(r.Data, []byte("?")))
		state := attemptDeclined
		if r.Status == protocol.StatusFailed {
			n.failed++
			state = attemptFailed
		}
		if a.state == attemptRunning {
			c.endAttemptLocked(a, state, reason, now)
		}
		return
	}
	a.state, a.ended = attemptDone, now
	t.output = bytes.Clone(r.Data)
	t.doneBy = n.id
	n.done++
	took := now.Sub(a.started)
	c.metrics.runLatency.Observe(took.Seconds())
	t.job.doneTime += took
	t.job.doneCount++
	n.observeRate(len(t.payload), took)
	for _, other := range t.attempts {
		if other.state == attemptRunning {
			// A backup copy lost the race: free its node.
			c.aborts[other.node] = append(c.aborts[other.node], protocol.TaskRef{ID: t.id, Attempt: other.number})
		}
	}
	c.stats.ResultsAccepted++
	c.saveAttemptLocked(a)
	c.saveResultLocked(t)
	c.setTaskStateLocked(t, api.TaskDone)
}

func errBirthID(id string) error {
	return fmt.Errorf("%w: birth names node %q, not the node in its topic", protocol.ErrInvalid, id)
}

func errUnexpected(m protocol.Message) error {
	return fmt.Errorf("%w: a %s message on this topic", protocol.ErrInvalid, m.Type())
}
