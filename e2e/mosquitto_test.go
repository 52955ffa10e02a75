package e2e

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// The same cluster on Debian's Mosquitto instead of the embedded broker:
// the image job with a worker killed mid-job, then the loss of a node.
func TestImageJobOnMosquitto(t *testing.T) {
	m := testenv.StartMosquitto(t)
	tc := startCluster(t, m.URL)
	var workers []*testenv.Process
	for _, id := range []string{"mosq-a", "mosq-b", "mosq-c"} {
		workers = append(workers, startWorker(t, m.URL, id, "--task-delay", "10ms"))
	}
	took := waitFor(t, 10*time.Second, "3 nodes online", func() bool { return countOnline(tc) == 3 })
	t.Logf("3 nodes online %v after start", took)

	go func() {
		waitFor(t, 30*time.Second, "some tiles done", func() bool {
			jobs := tc.Coordinator.Jobs()
			return len(jobs) == 1 && jobs[0].Done >= 40
		})
		workers[0].Signal(syscall.SIGKILL)
	}()
	in := filepath.Join(imagesDir, "coffee.png")
	got, sum := convertOnCluster(t, tc, in, ".png", twoHundredTiles)
	sameBytes(t, "image on Mosquitto", got, referenceOutput(t, in, ".png", 30, 40, imagejob.Luma))
	st := tc.Coordinator.Stats()
	t.Logf("%d tiles on %v: accepted %d, reassigned %d", sum.Tiles, sum.TilesByNode, st.ResultsAccepted, st.Reassignments)
	if st.ResultsAccepted != 200 {
		t.Errorf("results accepted = %d, want 200", st.ResultsAccepted)
	}

	lost := waitFor(t, 5*time.Second, "killed node offline", func() bool { return tc.nodeState("mosq-a") == api.NodeOffline })
	t.Logf("killed node offline after %v (since the job ended)", lost)
	workers[1].Signal(syscall.SIGKILL)
	took = waitFor(t, 5*time.Second, "node offline", func() bool { return tc.nodeState("mosq-b") == api.NodeOffline })
	t.Logf("node offline %v after SIGKILL on Mosquitto", took)
	if took > 2*time.Second {
		t.Errorf("node offline %v after SIGKILL, want within 2s", took)
	}
}
