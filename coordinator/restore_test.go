package coordinator_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/store"
	"github.com/mqcluster/mqcluster/transport/mqtt"
)

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path, store.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startFirstRun opens the store at path and starts a coordinator on it,
// without cleanup: the test closes both itself, to start a second run.
func startFirstRun(t *testing.T, url, path string) (*coordinator.Coordinator, *store.Store) {
	t.Helper()
	s := openStore(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := coordinator.Start(ctx, mqtt.Dialer(url), coordinator.Options{Store: s, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// A coordinator restarted on its store keeps the results it accepted, leaves
// the running attempt with its node, and runs only what is left.
func TestRestartResumesFromStore(t *testing.T) {
	url := testenv.Broker(t)
	path := filepath.Join(t.TempDir(), "jobs.db")
	c1, first := startFirstRun(t, url, path)
	node := startRawNode(t, url, "keeper", 1, "noop")
	waitNodes(t, c1, 1)
	job, err := c1.Submit(noopJob(3))
	if err != nil {
		t.Fatal(err)
	}
	t0 := node.nextTasks().Tasks[0]
	node.sendResults(protocol.Result{ID: t0.ID, Attempt: t0.Attempt, Data: []byte("from the first run")})
	t1 := node.nextTasks().Tasks[0] // held across the restart
	c1.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := openStore(t, path)
	t.Cleanup(func() { second.Close() })
	c2 := startCoordinator(t, url, coordinator.Options{Store: second})
	j, err := c2.Job(job.ID)
	if err != nil {
		t.Fatalf("job not restored: %v", err)
	}
	if j.Done != 1 || j.Running != 1 || j.Queued != 1 {
		t.Fatalf("restored job: %d done, %d running, %d queued; want 1, 1, 1", j.Done, j.Running, j.Queued)
	}
	// The node sends the result of the task it has held since before the restart.
	node.sendResults(protocol.Result{ID: t1.ID, Attempt: t1.Attempt, Data: []byte("held across the restart")})
	t2 := node.nextTasks().Tasks[0]
	if t2.ID == t0.ID || t2.ID == t1.ID {
		t.Fatalf("task %d sent again after the restart", t2.ID)
	}
	node.sendResults(protocol.Result{ID: t2.ID, Attempt: t2.Attempt, Data: []byte("after the restart")})
	if j := waitJob(t, c2, job.ID, 10*time.Second); j.State != api.JobDone {
		t.Fatalf("job %s, want done", j.State)
	}
	res, _ := c2.Results(job.ID)
	got := map[string]bool{}
	for _, r := range res.Tasks {
		got[string(r.Output)] = true
	}
	for _, want := range []string{"from the first run", "held across the restart", "after the restart"} {
		if !got[want] {
			t.Errorf("no task output %q in %v", want, got)
		}
	}
	if st := c2.Stats(); st.ResultsAccepted != 2 {
		t.Errorf("the restarted coordinator accepted %d results, want 2", st.ResultsAccepted)
	}
}

// The attempt of a node that does not come back after a restart runs
// elsewhere.
func TestRestartRequeuesAbsentNodesTasks(t *testing.T) {
	url := testenv.Broker(t)
	path := filepath.Join(t.TempDir(), "jobs.db")
	c1, first := startFirstRun(t, url, path)
	gone := startRawNode(t, url, "gone", 1, "noop")
	waitNodes(t, c1, 1)
	job, _ := c1.Submit(noopJob(1))
	gone.nextTasks()
	c1.Close()
	first.Close()
	// The node leaves while no coordinator runs, as a worker does: its
	// death, retained, replaces its birth.
	gone.publish(protocol.ChannelPresence, true, &protocol.Death{Session: gone.session, Reason: protocol.DeathLeft})
	gone.conn.Close()

	second := openStore(t, path)
	t.Cleanup(func() { second.Close() })
	c2 := startCoordinator(t, url, coordinator.Options{Store: second})
	startWorker(t, url, workerOptions("rescuer"))
	start := time.Now()
	j := waitJob(t, c2, job.ID, 20*time.Second)
	took := time.Since(start)
	t.Logf("task of the absent node done %v after the restart", took)
	res, _ := c2.Results(job.ID)
	if j.State != api.JobDone || res.Tasks[0].Node != "rescuer" {
		t.Errorf("job %s, task done by %q; want done by rescuer", j.State, res.Tasks[0].Node)
	}
	// Its retained death shows the node is gone: no need to wait 5 s for it.
	if took > 3*time.Second {
		t.Errorf("the task waited %v for a node whose retained presence shows it left", took)
	}
}

// A job cancelled before a restart comes back cancelled, and none of its
// tasks goes back in the queue.
func TestRestartKeepsCancelledJob(t *testing.T) {
	url := testenv.Broker(t)
	path := filepath.Join(t.TempDir(), "jobs.db")
	c1, first := startFirstRun(t, url, path)
	job, _ := c1.Submit(noopJob(5))
	c1.Cancel(job.ID)
	c1.Close()
	first.Close()

	second := openStore(t, path)
	t.Cleanup(func() { second.Close() })
	c2 := startCoordinator(t, url, coordinator.Options{Store: second})
	j, err := c2.Job(job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != api.JobCancelled || j.Cancelled != 5 || j.Queued != 0 {
		t.Errorf("restored job %s with %d cancelled and %d queued, want cancelled, 5 and 0", j.State, j.Cancelled, j.Queued)
	}
	startWorker(t, url, workerOptions("idle"))
	waitNodes(t, c2, 1)
	if st := c2.Stats(); st.TasksDispatched != 0 {
		t.Errorf("%d tasks of a cancelled job dispatched after the restart", st.TasksDispatched)
	}
}

// A job the store cannot write is refused with ErrStore, and the tasks
// that started while its commit ran are cancelled rather than left to run.
func TestSubmitFailsWhenTheStoreFails(t *testing.T) {
	url := testenv.Broker(t)
	c, s := startFirstRun(t, url, filepath.Join(t.TempDir(), "mqcluster.db"))
	defer c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Submit(noopJob(3))
	if !errors.Is(err, coordinator.ErrStore) {
		t.Fatalf("submit with the store closed: %v, want ErrStore", err)
	}
	jobs := c.Jobs()
	if len(jobs) != 1 || jobs[0].State != api.JobCancelled {
		t.Fatalf("jobs after the failed submit: %+v, want one cancelled", jobs)
	}
}
