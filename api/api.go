// Package api holds the JSON types of the coordinator's HTTP API, shared by
// the server and the Go client. Byte fields travel as base64, as
// encoding/json writes []byte.
//
//	POST /api/v1/jobs               JobSpec -> Job (201)
//	GET  /api/v1/jobs               -> []Job, without failures
//	GET  /api/v1/jobs/{id}          -> Job; ?wait=10s waits until the job ends or the time is up
//	GET  /api/v1/jobs/{id}/results  -> Results
//	POST /api/v1/jobs/{id}/cancel   -> Job
//	GET  /api/v1/nodes              -> []Node
//	GET  /api/v1/stats              -> Stats
//
// Errors come as Error with a 4xx or 5xx status, except 405 Method Not
// Allowed, which net/http writes as plain text.
package api

import "time"

// JobSpec is a job to submit: a list of tasks that can run in any order.
type JobSpec struct {
	Name string `json:"name,omitempty"`
	// MaxAttempts is how many times a task may fail or lose its node before
	// it is marked failed; 0 takes the coordinator's default (3).
	MaxAttempts int               `json:"max_attempts,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"` // free-form labels, kept with the job
	Tasks       []TaskSpec        `json:"tasks"`
}

// TaskSpec is one task of a job.
type TaskSpec struct {
	Kind    string `json:"kind"`
	Payload []byte `json:"payload"`
}

// Job states.
const (
	JobQueued     = "queued"    // no task has started yet
	JobRunning    = "running"   // some task has started
	JobDone       = "done"      // every task succeeded
	JobFailed     = "failed"    // every task ended and at least one failed
	JobCancelled  = "cancelled" // cancelled before every task ended
	TaskQueued    = "queued"
	TaskRunning   = "running" // sent to a node, which runs it or holds it for its next free slot
	TaskDone      = "done"
	TaskFailed    = "failed"
	TaskCancelled = "cancelled"
)

// Job is the state and progress of a job.
type Job struct {
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	State     string            `json:"state"`
	Meta      map[string]string `json:"meta,omitempty"`
	Tasks     int               `json:"tasks"`
	Queued    int               `json:"queued"`
	Running   int               `json:"running"`
	Done      int               `json:"done"`
	Failed    int               `json:"failed"`
	Cancelled int               `json:"cancelled,omitempty"`
	Created   time.Time         `json:"created"`
	Finished  *time.Time        `json:"finished,omitempty"`
	// Failures lists each failed task with all its attempts.
	Failures []TaskFailure `json:"failures,omitempty"`
}

// Ended reports whether the job is done or failed.
func (j Job) Ended() bool {
	return j.State == JobDone || j.State == JobFailed || j.State == JobCancelled
}

// TaskFailure is a task that failed for good.
type TaskFailure struct {
	Index    int       `json:"index"`
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one run of a task on one node.
type Attempt struct {
	Number  int       `json:"number"`
	Node    string    `json:"node"`
	Outcome string    `json:"outcome"` // running, done, failed, lost, timed out, superseded
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
	// Seconds is how long the attempt ran, or has run so far.
	Seconds float64 `json:"seconds"`
}

// Results holds the outcome of every task of a job, in task order.
type Results struct {
	ID    string       `json:"id"`
	State string       `json:"state"`
	Tasks []TaskResult `json:"tasks"`
}

// TaskResult is the outcome of one task.
type TaskResult struct {
	Index  int    `json:"index"`
	State  string `json:"state"`
	Node   string `json:"node,omitempty"` // the node whose result was accepted
	Output []byte `json:"output,omitempty"`
	Error  string `json:"error,omitempty"` // the last attempt's error, for a failed task
}

// Node states.
const (
	NodeOnline   = "online"
	NodeDraining = "draining" // finishing its tasks before it leaves
	NodeConflict = "conflict" // its id is used by more than one process; it gets no task
	NodeOffline  = "offline"
)

// Node is one worker node as the coordinator sees it.
type Node struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"` // why it went offline
	Kinds      []string  `json:"kinds"`
	Slots      int       `json:"slots"`
	Batch      int       `json:"batch"`
	Prefetch   int       `json:"prefetch"`
	MaxPayload int64     `json:"max_payload"`
	InFlight   int       `json:"in_flight"` // tasks the node holds: running, or prefetched and waiting for a slot
	Done       uint64    `json:"done"`
	Failed     uint64    `json:"failed"`
	Software   string    `json:"software,omitempty"`
	Session    uint32    `json:"session"`
	LastSeen   time.Time `json:"last_seen"`
}

// Stats are the coordinator's counters since it started.
type Stats struct {
	ResultsAccepted   uint64 `json:"results_accepted"`
	DuplicatesDropped uint64 `json:"duplicates_dropped"` // a second result for a task already accepted, or a redelivered one
	ForeignResults    uint64 `json:"foreign_results"`    // a result for a task the sending node was not given
	Malformed         uint64 `json:"malformed"`          // messages that failed to decode
	StalePresence     uint64 `json:"stale_presence"`     // wills and births of an older connection, ignored
	Reassignments     uint64 `json:"reassignments"`      // tasks put back in the queue after a failure or a lost node
	TasksDispatched   uint64 `json:"tasks_dispatched"`
	TaskMessages      uint64 `json:"task_messages"`  // tasks messages published; below TasksDispatched when batched
	Backups           uint64 `json:"backups"`        // backup copies of slow tasks started on idle nodes
	IDConflicts       uint64 `json:"id_conflicts"`   // node ids found in use by more than one process
	BirthsDropped     uint64 `json:"births_dropped"` // births over the per-second limit or the node limit
	// ResultsOverwritten counts, over every run of the coordinator on its
	// store, results stored for a task that already had one; it stays 0
	// unless a task was accepted twice.
	ResultsOverwritten uint64 `json:"results_overwritten"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}
