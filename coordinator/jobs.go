package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	mathrand "math/rand/v2"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/store"
)

type attemptState int

const (
	attemptRunning    attemptState = iota
	attemptDone                    // its result was accepted
	attemptFailed                  // the node reported a failure
	attemptLost                    // the node went offline or lost the message
	attemptTimedOut                // past its deadline; a late result still counts
	attemptSuperseded              // its result came after another attempt's
	attemptDeclined                // the node did not run it; not held against the task
)

func (s attemptState) String() string {
	return [...]string{"running", "done", "failed", "lost", "timed out", "superseded", "declined"}[s]
}

// attempt is one run of a task on one node.
type attempt struct {
	task     *task
	number   uint16
	node     string
	started  time.Time
	deadline time.Time
	ended    time.Time
	state    attemptState
	answered bool // a result for this attempt arrived; any more are duplicates
	err      string
}

type task struct {
	id       uint64
	job      *job
	index    int
	kind     string
	payload  []byte
	state    string // api.Task*
	attempts []*attempt
	failures int // attempts that failed, were lost or timed out; declined ones do not count
	output   []byte
	doneBy   string
	// notBefore delays a retry after a failure: exponential backoff with
	// jitter, so a failing task does not spin through its attempts.
	notBefore time.Time
	queuedAt  time.Time // when it last entered the queue, for the dispatch latency metric
}

func (t *task) attempt(number uint16) *attempt {
	if number == 0 || int(number) > len(t.attempts) {
		return nil
	}
	return t.attempts[number-1]
}

// triedOn reports whether an attempt of t ran on node id and did not succeed.
func (t *task) triedOn(id string) bool {
	for _, a := range t.attempts {
		if a.node == id && a.state != attemptRunning && a.state != attemptDone && a.state != attemptDeclined {
			return true
		}
	}
	return false
}

func (t *task) runningAttempts() int {
	n := 0
	for _, a := range t.attempts {
		if a.state == attemptRunning {
			n++
		}
	}
	return n
}

func (t *task) hasRunningAttempt() bool {
	for _, a := range t.attempts {
		if a.state == attemptRunning {
			return true
		}
	}
	return false
}

type job struct {
	id          string
	name        string
	meta        map[string]string
	maxAttempts int
	created     time.Time
	finished    time.Time
	started     bool
	cancelled   bool
	doneTime    time.Duration // total run time of the accepted attempts, for doneTime/doneCount
	doneCount   int
	tasks       []*task
	count       map[string]int // tasks by state
	ended       chan struct{}  // closed when every task is done or failed
}

// allEnded reports whether every task is done, failed or cancelled.
func (j *job) allEnded() bool {
	return j.count[api.TaskDone]+j.count[api.TaskFailed]+j.count[api.TaskCancelled] == len(j.tasks)
}

func (j *job) state() string {
	switch {
	case j.cancelled:
		return api.JobCancelled
	case j.count[api.TaskDone]+j.count[api.TaskFailed] < len(j.tasks):
		if j.started {
			return api.JobRunning
		}
		return api.JobQueued
	case j.count[api.TaskFailed] > 0:
		return api.JobFailed
	default:
		return api.JobDone
	}
}

// ErrInvalidSpec wraps every reason Submit rejects a job spec for.
var ErrInvalidSpec = errors.New("invalid job spec")

func validateSpec(spec *api.JobSpec) error {
	if len(spec.Tasks) == 0 {
		return fmt.Errorf("%w: tasks: the job has no task", ErrInvalidSpec)
	}
	if spec.MaxAttempts < 0 || spec.MaxAttempts > 100 {
		return fmt.Errorf("%w: max_attempts: %d is not between 0 (the default) and 100", ErrInvalidSpec, spec.MaxAttempts)
	}
	for i, t := range spec.Tasks {
		if err := protocol.ValidateKind(t.Kind); err != nil {
			return fmt.Errorf("%w: tasks[%d].kind: %v", ErrInvalidSpec, i, err)
		}
	}
	return nil
}

// Submit queues a job. Its tasks run as soon as nodes that take their kind
// and payload size have free slots; until such a node joins, they wait.
func (c *Coordinator) Submit(spec api.JobSpec) (api.Job, error) {
	if err := validateSpec(&spec); err != nil {
		return api.Job{}, err
	}
	j := &job{
		id: newJobID(), name: spec.Name, meta: maps.Clone(spec.Meta),
		maxAttempts: spec.MaxAttempts, created: time.Now(),
		count: map[string]int{}, ended: make(chan struct{}),
	}
	if j.maxAttempts == 0 {
		j.maxAttempts = c.opts.MaxAttempts
	}
	c.mu.Lock()
	firstID := c.nextTask + 1
	c.nextTask += uint64(len(spec.Tasks))
	c.mu.Unlock()
	for i, ts := range spec.Tasks {
		j.tasks = append(j.tasks, &task{id: firstID + uint64(i), job: j, index: i, kind: ts.Kind, payload: ts.Payload,
			state: api.TaskQueued})
	}
	// The tasks start while the job's commit runs, which takes the fsync
	// off the path to the first result. The job's write is queued ahead
	// of its attempts and results, so they reach the disk with it or after.
	stored := c.storeJob(j)
	c.mu.Lock()
	for _, t := range j.tasks {
		c.tasks[t.id] = t
		c.queue.pushBack(t)
	}
	j.count[api.TaskQueued] = len(j.tasks)
	c.jobs[j.id] = j
	c.jobOrder = append(c.jobOrder, j)
	status := c.jobStatusLocked(j, false)
	c.mu.Unlock()

	c.log.Info("job submitted", "job", j.id, "name", j.name, "tasks", len(j.tasks), "max_attempts", j.maxAttempts)
	c.kick()
	// A job the API accepted must survive a crash: Submit returns once it
	// is on disk.
	if err := stored(); err != nil {
		c.log.Error("job not stored; cancelling it", "job", j.id, "error", err)
		c.Cancel(j.id)
		return api.Job{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	return status, nil
}

// storeJob queues a new job for the store, if there is one, and returns a
// function that waits until it is on disk.
func (c *Coordinator) storeJob(j *job) (wait func() error) {
	if c.opts.Store == nil {
		return func() error { return nil }
	}
	records := make([]store.TaskRecord, len(j.tasks))
	for i, t := range j.tasks {
		records[i] = store.TaskRecord{Index: i, ID: t.id, Kind: t.kind, Payload: t.payload}
	}
	return c.opts.Store.QueueJob(jobRecord(j), records)
}

// ErrStore wraps a failure to write a new job to the store.
var ErrStore = errors.New("store failed")

func newJobID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "job-" + hex.EncodeToString(b)
}

func (c *Coordinator) setTaskStateLocked(t *task, state string) {
	t.job.count[t.state]--
	t.job.count[state]++
	t.state = state
	if state == api.TaskDone || state == api.TaskFailed || state == api.TaskCancelled {
		c.finishJobIfEndedLocked(t.job)
	}
}

func (c *Coordinator) finishJobIfEndedLocked(j *job) {
	if !j.allEnded() {
		return
	}
	j.finished = time.Now()
	close(j.ended)
	c.saveJobLocked(j)
	elapsed := j.finished.Sub(j.created).Round(time.Millisecond).String()
	if j.cancelled {
		c.log.Info("job cancelled", "job", j.id, "tasks", len(j.tasks), "done", j.count[api.TaskDone], "elapsed", elapsed)
	} else if failed := j.count[api.TaskFailed]; failed > 0 {
		c.log.Warn("job failed", "job", j.id, "tasks", len(j.tasks), "failed", failed, "elapsed", elapsed)
	} else {
		c.log.Info("job finished", "job", j.id, "tasks", len(j.tasks), "elapsed", elapsed)
	}
}

// endAttemptLocked ends a running attempt that did not succeed. The task goes
// back to the front of the queue, or fails for good after its job's
// maxAttempts, unless another attempt of it is still running.
func (c *Coordinator) endAttemptLocked(a *attempt, state attemptState, reason string, now time.Time) {
	a.state, a.err, a.ended = state, reason, now
	c.saveAttemptLocked(a)
	t := a.task
	if t.state != api.TaskRunning {
		return
	}
	if state != attemptDeclined {
		t.failures++
	}
	if t.hasRunningAttempt() {
		return
	}
	if t.failures >= t.job.maxAttempts {
		c.setTaskStateLocked(t, api.TaskFailed)
		c.saveResultLocked(t)
		c.log.Warn("task failed", "job", t.job.id, "task", t.index, "attempts", len(t.attempts), "error", reason)
		return
	}
	if state == attemptFailed || state == attemptTimedOut {
		t.notBefore = now.Add(retryDelay(t.failures))
		c.delayed = append(c.delayed, t)
	}
	c.setTaskStateLocked(t, api.TaskQueued)
	c.queue.pushFront(t)
	c.stats.Reassignments++
	c.log.Info("task reassigned", "job", t.job.id, "task", t.index, "attempt", a.number, "node", a.node, "reason", reason)
}

// WaitJob blocks until job id ends or ctx ends, and returns its status.
func (c *Coordinator) WaitJob(ctx context.Context, id string) (api.Job, error) {
	c.mu.Lock()
	j := c.jobs[id]
	c.mu.Unlock()
	if j == nil {
		return api.Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	select {
	case <-j.ended:
	case <-ctx.Done():
	}
	return c.Job(id)
}

// Job returns the status of job id, with its failed tasks.
func (c *Coordinator) Job(id string) (api.Job, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	if j == nil {
		return api.Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	return c.jobStatusLocked(j, true), nil
}

// Jobs returns the status of every job, oldest first, without failures.
func (c *Coordinator) Jobs() []api.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]api.Job, 0, len(c.jobOrder))
	for _, j := range c.jobOrder {
		out = append(out, c.jobStatusLocked(j, false))
	}
	return out
}

func (c *Coordinator) jobStatusLocked(j *job, withFailures bool) api.Job {
	s := api.Job{
		ID: j.id, Name: j.name, State: j.state(), Meta: maps.Clone(j.meta), Tasks: len(j.tasks),
		Queued: j.count[api.TaskQueued], Running: j.count[api.TaskRunning],
		Done: j.count[api.TaskDone], Failed: j.count[api.TaskFailed], Cancelled: j.count[api.TaskCancelled],
		Created: j.created,
	}
	if !j.finished.IsZero() {
		f := j.finished
		s.Finished = &f
	}
	if withFailures && s.Failed > 0 {
		for _, t := range j.tasks {
			if t.state == api.TaskFailed {
				s.Failures = append(s.Failures, api.TaskFailure{Index: t.index, Attempts: attemptsOf(t)})
			}
		}
	}
	return s
}

func attemptsOf(t *task) []api.Attempt {
	out := make([]api.Attempt, 0, len(t.attempts))
	for _, a := range t.attempts {
		end := a.ended
		if end.IsZero() {
			end = time.Now()
		}
		out = append(out, api.Attempt{
			Number: int(a.number), Node: a.node, Outcome: a.state.String(), Error: a.err,
			Started: a.started, Seconds: end.Sub(a.started).Seconds(),
		})
	}
	return out
}

// Results returns the outcome of every task of job id, in task order. The
// outputs share memory with the coordinator: callers must not modify them.
func (c *Coordinator) Results(id string) (api.Results, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	if j == nil {
		return api.Results{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	r := api.Results{ID: j.id, State: j.state(), Tasks: make([]api.TaskResult, len(j.tasks))}
	for i, t := range j.tasks {
		tr := api.TaskResult{Index: i, State: t.state, Node: t.doneBy, Output: t.output}
		if t.state == api.TaskFailed && len(t.attempts) > 0 {
			tr.Error = t.attempts[len(t.attempts)-1].err
		}
		r.Tasks[i] = tr
	}
	return r, nil
}

// dropExpiredJobsLocked removes the jobs that finished more than Retention
// ago, from memory and from the store.
func (c *Coordinator) dropExpiredJobsLocked(now time.Time) {
	kept := c.jobOrder[:0]
	for _, j := range c.jobOrder {
		if j.finished.IsZero() || now.Sub(j.finished) < c.opts.Retention {
			kept = append(kept, j)
			continue
		}
		delete(c.jobs, j.id)
		for _, t := range j.tasks {
			delete(c.tasks, t.id)
		}
		if c.opts.Store != nil {
			c.opts.Store.DeleteJob(j.id)
		}
		c.log.Info("job removed after its retention", "job", j.id, "finished", j.finished.Format(time.RFC3339))
	}
	clear(c.jobOrder[len(kept):])
	c.jobOrder = kept
}

// retryDelay returns the wait before attempt failures+1 of a task that
// failed: 200 ms doubled per failure, at most 10 s, times a random factor
// from 0.5 to 1.5, so that many tasks failing together do not retry in step.
func retryDelay(failures int) time.Duration {
	d := 200 * time.Millisecond << min(failures-1, 6)
	d = min(d, 10*time.Second)
	return time.Duration(float64(d) * (0.5 + mathrand.Float64()))
}
