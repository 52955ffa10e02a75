package coordinator

import (
	"slices"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/store"
)

// restoreGrace is how long a restored attempt stays with a node that has not
// announced itself since the restart, before its task runs elsewhere. The
// retained births of live nodes arrive within milliseconds of subscribing.
const restoreGrace = 5 * time.Second

var stateByName = map[string]attemptState{}

func init() {
	for s := attemptRunning; s <= attemptDeclined; s++ {
		stateByName[s.String()] = s
	}
}

// restore rebuilds the jobs of a store. Finished tasks keep their results.
// An attempt that was running stays with its node, which may still hold it
// and send its result; the node's heartbeats, its loss, or restoreGrace
// decide otherwise. Every other unfinished task is queued.
func (c *Coordinator) restore(loaded []store.LoadedJob) {
	now := time.Now()
	queued, running := 0, 0
	for _, lj := range loaded {
		j := &job{
			id: lj.Job.ID, name: lj.Job.Name, meta: lj.Job.Meta, maxAttempts: lj.Job.MaxAttempts,
			created: lj.Job.Created, count: map[string]int{}, ended: make(chan struct{}),
		}
		for _, tr := range lj.Tasks {
			t := &task{id: tr.ID, job: j, index: tr.Index, kind: tr.Kind, payload: tr.Payload, state: api.TaskQueued}
			j.tasks = append(j.tasks, t)
			c.tasks[t.id] = t
			c.nextTask = max(c.nextTask, t.id)
		}
		for _, r := range lj.Results {
			restoreResult(j.tasks[r.Index], r)
		}
		for _, ar := range lj.Attempts {
			c.restoreAttempt(j.tasks[ar.Index], ar, now)
		}
		j.cancelled = lj.Job.Cancelled
		for _, t := range j.tasks {
			if j.cancelled && (t.state == api.TaskQueued || t.state == api.TaskRunning) {
				t.state = api.TaskCancelled
			}
			j.count[t.state]++
			switch {
			case t.state == api.TaskRunning:
				running++
				j.started = true
			case t.state == api.TaskQueued:
				c.queue.pushBack(t)
				queued++
			}
		}
		if len(j.tasks) > 0 && j.allEnded() {
			j.finished = lj.Job.Finished
			if j.finished.IsZero() {
				j.finished = now
			}
			close(j.ended)
		}
		c.jobs[j.id] = j
		c.jobOrder = append(c.jobOrder, j)
	}
	if len(loaded) > 0 {
		c.log.Info("restored jobs from the store", "jobs", len(loaded), "tasks_queued", queued, "tasks_running", running)
	}
}

func restoreResult(t *task, r store.ResultRecord) {
	if r.Failed {
		t.state = api.TaskFailed
		return
	}
	t.state, t.output, t.doneBy = api.TaskDone, r.Output, r.Node
}

func (c *Coordinator) restoreAttempt(t *task, ar store.AttemptRecord, now time.Time) {
	for len(t.attempts) < int(ar.Number)-1 {
		// An attempt whose record was lost in the crash: it ran somewhere.
		t.attempts = append(t.attempts, &attempt{task: t, number: uint16(len(t.attempts) + 1),
			state: attemptLost, err: "lost in a coordinator restart", answered: true})
	}
	a := &attempt{task: t, number: ar.Number, node: ar.Node, started: ar.Started, deadline: ar.Deadline,
		ended: ar.Ended, state: stateByName[ar.State], err: ar.Error}
	t.attempts = append(t.attempts, a)
	switch {
	case a.state == attemptRunning && t.state == api.TaskQueued:
		a.deadline = now.Add(c.opts.TaskDeadline)
		c.placeholderNode(a.node).inflight[protocol.TaskRef{ID: t.id, Attempt: a.number}] = a
		t.state = api.TaskRunning
	case a.state == attemptRunning:
		a.state, a.ended = attemptSuperseded, now
	case a.state != attemptDeclined && a.state != attemptDone && a.state != attemptSuperseded:
		t.failures++
	}
	a.answered = a.state != attemptRunning && a.state != attemptTimedOut
}

// placeholderNode returns the node id, creating it offline until its birth
// arrives.
func (c *Coordinator) placeholderNode(id string) *node {
	n := c.nodes[id]
	if n == nil {
		n = &node{id: id, inflight: map[protocol.TaskRef]*attempt{}, reason: "not seen since the coordinator started",
			lastSeen: time.Now()}
		c.nodes[id] = n
		c.nodeOrder = append(c.nodeOrder, id)
		slices.Sort(c.nodeOrder)
	}
	return n
}

// expireRestoredLocked requeues the restored attempts of nodes that have not
// come back within restoreGrace.
func (c *Coordinator) expireRestoredLocked(now time.Time) {
	if now.Sub(c.startTime) < restoreGrace {
		return
	}
	for _, n := range c.nodes {
		if n.online || len(n.inflight) == 0 {
			continue
		}
		for ref, a := range n.inflight {
			delete(n.inflight, ref)
			if a.state == attemptRunning {
				c.endAttemptLocked(a, attemptLost, "node "+n.id+" did not come back after the coordinator restarted", now)
			}
		}
		c.kick()
	}
}
