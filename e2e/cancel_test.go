package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
)

// `mqcluster cancel` on a running job: it ends cancelled at once and its
// worker processes are free for the next job.
func TestCancelCommand(t *testing.T) {
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "c-w1", "--slots", "2")
	startCNode(t, tc.BrokerURL, "c-c1")
	waitFor(t, 20*time.Second, "2 nodes online", func() bool { return countOnline(tc) == 2 })
	job, err := tc.Coordinator.Submit(sleepJob(10, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "tasks running", func() bool {
		j, _ := tc.Coordinator.Job(job.ID)
		return j.Running >= 3 // 2 slots and a prefetch on the worker, 1 on the C node
	})
	code, stdout, stderr := runCLI(t, "cancel", job.ID, "--server", tc.APIURL)
	if code != 0 {
		t.Fatalf("cancel: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, ": cancelled") || !strings.Contains(stdout, "10 cancelled") {
		t.Errorf("cancel printed %q, want the job cancelled with 10 tasks cancelled", stdout)
	}
	took := waitFor(t, 10*time.Second, "worker slots free", func() bool {
		n, _ := tc.node("c-w1")
		return n.InFlight == 0
	})
	t.Logf("worker free %v after the cancel", took)
	next, _ := tc.Coordinator.Submit(sleepJob(4, time.Millisecond))
	waitFor(t, 10*time.Second, "next job done", func() bool {
		j, _ := tc.Coordinator.Job(next.ID)
		return j.State == api.JobDone
	})
}
