package coordinator_test

import (
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/worker"
)

func sleepJob(n int, d time.Duration) api.JobSpec {
	return api.JobSpec{Name: "sleep", Tasks: builtin.Tasks(builtin.SleepKind, builtin.SleepPayload(d), n)}
}

// Cancelling drops the queued tasks, aborts the running ones on their node,
// and frees the node's slots for the next job.
func TestCancelAbortsRunningTasks(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	startWorker(t, url, worker.Options{NodeID: "busy", Slots: 2, Prefetch: 2, Batch: 4})
	waitNodes(t, c, 1)

	// 2 tasks run, 2 wait on the node for a slot and 2 stay queued.
	job, _ := c.Submit(sleepJob(6, time.Minute))
	deadline := time.Now().Add(10 * time.Second)
	for c.Nodes()[0].InFlight != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the worker holds %d tasks, want 4", c.Nodes()[0].InFlight)
		}
		time.Sleep(5 * time.Millisecond)
	}
	j, err := c.Cancel(job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != api.JobCancelled || j.Cancelled != 6 || !j.Ended() {
		t.Fatalf("after cancel: job %s with %d cancelled, want cancelled with 6", j.State, j.Cancelled)
	}
	start := time.Now()
	for c.Nodes()[0].InFlight != 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("node still holds %d tasks 5s after the abort", c.Nodes()[0].InFlight)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("slots free %v after the cancel", time.Since(start))
	next, _ := c.Submit(noopJob(3))
	if j := waitJob(t, c, next.ID, 10*time.Second); j.State != api.JobDone {
		t.Errorf("next job %s, want done", j.State)
	}
	if _, err := c.Cancel("job-nope"); err == nil {
		t.Error("cancel of an unknown job succeeded")
	}
}

// A C-style node that holds a task drops it on an abort and returns a
// declined result. The cancelled job ignores any later result.
func TestCancelledTaskResultDropped(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	n := startRawNode(t, url, "late", 1, "noop")
	waitNodes(t, c, 1)
	job, _ := c.Submit(noopJob(2))
	task := n.nextTasks().Tasks[0]
	c.Cancel(job.ID)
	abort := <-n.aborts
	if len(abort.Tasks) != 1 || abort.Tasks[0].ID != task.ID {
		t.Fatalf("abort %+v, want task %d", abort.Tasks, task.ID)
	}
	n.sendResults(protocol.Result{ID: task.ID, Attempt: task.Attempt, Data: []byte("too late")})
	waitStats(t, c, func(s api.Stats) bool { return s.DuplicatesDropped == 1 })
	if st := c.Stats(); st.ResultsAccepted != 0 {
		t.Errorf("accepted %d results of a cancelled job", st.ResultsAccepted)
	}
}
