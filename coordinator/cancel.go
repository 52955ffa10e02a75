package coordinator

import (
	"context"
	"fmt"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
)

// Cancel cancels job id: its queued tasks are dropped, the nodes running its
// other tasks are told to abort them, and the job ends as cancelled.
// Cancelling a job that has ended changes nothing.
func (c *Coordinator) Cancel(id string) (api.Job, error) {
	c.mu.Lock()
	j := c.jobs[id]
	if j == nil {
		c.mu.Unlock()
		return api.Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	if !j.finished.IsZero() {
		status := c.jobStatusLocked(j, true)
		c.mu.Unlock()
		return status, nil
	}
	j.cancelled = true
	aborts := map[string][]protocol.TaskRef{} // by node
	for _, t := range j.tasks {
		if t.state != api.TaskQueued && t.state != api.TaskRunning {
			continue
		}
		for _, a := range t.attempts {
			if a.state == attemptRunning || a.state == attemptTimedOut {
				aborts[a.node] = append(aborts[a.node], protocol.TaskRef{ID: t.id, Attempt: a.number})
			}
		}
		c.setTaskStateLocked(t, api.TaskCancelled)
	}
	c.saveJobLocked(j)
	status := c.jobStatusLocked(j, true)
	c.mu.Unlock()

	for node, refs := range aborts {
		c.sendAbort(node, refs)
	}
	return status, nil
}

// sendAbort sends node an abort message for refs. The attempts keep their
// slots until the node returns declined results for them or stops listing
// them in its heartbeats.
func (c *Coordinator) sendAbort(node string, refs []protocol.TaskRef) {
	for len(refs) > 0 {
		n := min(len(refs), protocol.MaxBatch)
		payload, err := protocol.Encode(&protocol.Abort{Epoch: c.epoch, Tasks: refs[:n]})
		refs = refs[n:]
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = c.conn.Publish(ctx, c.opts.Topics.Node(node, protocol.ChannelTasks), 1, false, payload)
			cancel()
		}
		if err != nil {
			c.log.Warn("send abort failed; the node finishes those tasks and their results are dropped", "node", node, "error", err)
		}
	}
}
