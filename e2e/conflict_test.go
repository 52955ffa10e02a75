package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
)

// Two worker processes started with one id: the coordinator marks the id as
// in conflict instead of letting it flap, and lifts it once one stops.
func TestDuplicateNodeIDDetected(t *testing.T) {
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "twin-id")
	second := startWorker(t, tc.BrokerURL, "twin-id")
	took := waitFor(t, 30*time.Second, "id conflict reported", func() bool { return tc.nodeState("twin-id") == api.NodeConflict })
	t.Logf("conflict reported %v after the second process started", took)
	if tc.Coordinator.Stats().IDConflicts != 1 {
		t.Errorf("id conflicts = %d, want 1", tc.Coordinator.Stats().IDConflicts)
	}
	code, stdout, _ := runCLI(t, "nodes", "--server", tc.APIURL)
	if code != 0 || !containsAll(stdout, "twin-id", "conflict") {
		t.Errorf("mqcluster nodes printed %q, want twin-id in conflict", stdout)
	}
	// No task goes to the id while it is in conflict.
	job, _ := tc.Coordinator.Submit(sleepJob(1, time.Millisecond))
	time.Sleep(500 * time.Millisecond) // a window in which nothing may happen
	if j, _ := tc.Coordinator.Job(job.ID); j.State != api.JobQueued {
		t.Errorf("job %s while its only node id is in conflict, want queued", j.State)
	}
	second.Signal(syscall.SIGKILL)
	tc.Coordinator.Cancel(job.ID)
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
