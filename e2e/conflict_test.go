package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
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

// Once the second process with the id stops, the conflict lifts after the
// conflict window and the first process gets tasks again.
func TestDuplicateNodeIDConflictLifts(t *testing.T) {
	c, err := cluster.Start(context.Background(), cluster.Options{
		BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Logger: testenv.Logger(t),
		Coordinator: coordinator.Options{ConflictWindow: 3 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tc := &testCluster{Cluster: c, connects: map[string]time.Time{}}
	startWorker(t, tc.BrokerURL, "twin-id")
	second := startWorker(t, tc.BrokerURL, "twin-id")
	waitFor(t, 30*time.Second, "id conflict reported", func() bool { return tc.nodeState("twin-id") == api.NodeConflict })
	second.Signal(syscall.SIGTERM)
	<-second.Done()
	took := waitFor(t, 30*time.Second, "conflict lifted", func() bool { return tc.nodeState("twin-id") == api.NodeOnline })
	t.Logf("conflict lifted %v after the second process stopped (window 3s)", took)
	job, _ := tc.Coordinator.Submit(sleepJob(3, time.Millisecond))
	waitFor(t, 10*time.Second, "job done on the remaining process", func() bool {
		j, _ := tc.Coordinator.Job(job.ID)
		return j.State == api.JobDone
	})
}
