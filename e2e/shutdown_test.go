package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/jobs/builtin"
)

func sleepJob(n int, d time.Duration) api.JobSpec {
	return api.JobSpec{Name: "sleep", Tasks: builtin.Tasks(builtin.SleepKind, builtin.SleepPayload(d), n)}
}

// SIGTERM: the worker stops taking tasks, finishes the one it runs, and
// leaves cleanly; the rest of the job runs on the other worker.
func TestWorkerDrainsOnSIGTERM(t *testing.T) {
	tc := startCluster(t, "")
	leaving := startWorker(t, tc.BrokerURL, "leaving", "--batch", "4", "--log-level", "debug")
	waitFor(t, 10*time.Second, "node online", func() bool { return tc.nodeState("leaving") == api.NodeOnline })

	job, err := tc.Coordinator.Submit(sleepJob(6, 600*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// The coordinator counts a task in flight once it sends it; wait until
	// the worker has it running.
	leaving.WaitOutput(t, "task started", 10*time.Second)
	start := time.Now()
	leaving.Signal(syscall.SIGTERM)
	waitFor(t, 5*time.Second, "node draining", func() bool { return tc.nodeState("leaving") == api.NodeDraining })
	select {
	case <-leaving.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("worker still running 10s after SIGTERM")
	}
	t.Logf("worker exited %v after SIGTERM, exit code %d", time.Since(start), leaving.Cmd.ProcessState.ExitCode())
	if code := leaving.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	n, _ := tc.node("leaving")
	if n.State != api.NodeOffline || n.Reason != "left" || n.Done != 1 {
		t.Errorf("node %s (%s) with %d done, want offline (left) after finishing its 1 running task", n.State, n.Reason, n.Done)
	}

	startWorker(t, tc.BrokerURL, "staying")
	waitFor(t, 20*time.Second, "job done", func() bool {
		j, _ := tc.Coordinator.Job(job.ID)
		return j.State == api.JobDone
	})
	j, _ := tc.Coordinator.Job(job.ID)
	if j.Failed != 0 {
		t.Errorf("%d tasks failed: declines and the drain must not use up attempts", j.Failed)
	}
}

// A task whose node dies under it three times fails, with every loss
// listed, and the cluster goes on with other work.
func TestTaskFailsAfterLosingThreeNodes(t *testing.T) {
	tc := startCluster(t, "")
	job, err := tc.Coordinator.Submit(sleepJob(1, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := "doomed-" + string(rune('a'+i))
		p := startWorker(t, tc.BrokerURL, id)
		waitFor(t, 10*time.Second, id+" running the task", func() bool {
			n, _ := tc.node(id)
			return n.InFlight == 1
		})
		p.Signal(syscall.SIGKILL)
		waitFor(t, 5*time.Second, id+" offline", func() bool { return tc.nodeState(id) == api.NodeOffline })
	}
	j, _ := tc.Coordinator.Job(job.ID)
	if j.State != api.JobFailed || len(j.Failures) != 1 {
		t.Fatalf("job %s with failures %+v, want failed with one task", j.State, j.Failures)
	}
	for _, a := range j.Failures[0].Attempts {
		if a.Outcome != "lost" || !strings.Contains(a.Error, a.Node+" lost") {
			t.Errorf("attempt %d on %s: %s %q, want lost", a.Number, a.Node, a.Outcome, a.Error)
		}
	}
	startWorker(t, tc.BrokerURL, "survivor")
	next, _ := tc.Coordinator.Submit(sleepJob(2, time.Millisecond))
	waitFor(t, 10*time.Second, "next job done", func() bool {
		j, _ := tc.Coordinator.Job(next.ID)
		return j.State == api.JobDone
	})
}
