package coordinator

import (
	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/store"
)

// The save functions queue a change for the store, if there is one. They do
// not wait for the disk: the store commits in groups.

func (c *Coordinator) saveAttemptLocked(a *attempt) {
	if c.opts.Store == nil {
		return
	}
	c.opts.Store.PutAttempt(a.task.job.id, store.AttemptRecord{
		Index: a.task.index, Number: a.number, Node: a.node, Started: a.started, Deadline: a.deadline,
		Ended: a.ended, State: a.state.String(), Error: a.err,
	})
}

func (c *Coordinator) saveResultLocked(t *task) {
	if c.opts.Store == nil {
		return
	}
	c.opts.Store.PutResult(t.job.id, store.ResultRecord{
		Index: t.index, Failed: t.state == api.TaskFailed, Node: t.doneBy, Output: t.output,
	})
}

func (c *Coordinator) saveJobLocked(j *job) {
	if c.opts.Store == nil {
		return
	}
	c.opts.Store.PutJobRecord(jobRecord(j))
}

func jobRecord(j *job) store.JobRecord {
	return store.JobRecord{ID: j.id, Name: j.name, Meta: j.meta, MaxAttempts: j.maxAttempts,
		Created: j.created, Finished: j.finished, Cancelled: j.cancelled}
}
