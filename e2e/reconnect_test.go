package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// Mosquitto restarted in the middle of a job: the coordinator and the worker
// processes reconnect with backoff, subscribe again and announce again, and
// the job finishes with the same output.
func TestBrokerRestartMidJob(t *testing.T) {
	m := testenv.StartMosquitto(t)
	tc := startCluster(t, m.URL)
	ids := []string{"re-a", "re-b", "re-c"}
	for _, id := range ids {
		startWorker(t, m.URL, id, "--task-delay", "10ms")
	}
	waitFor(t, 10*time.Second, "3 nodes online", func() bool { return countOnline(tc) == 3 })
	sessions := map[string]uint32{}
	for _, id := range ids {
		n, _ := tc.node(id)
		sessions[id] = n.Session
	}

	go func() {
		waitFor(t, 30*time.Second, "some tiles done", func() bool {
			jobs := tc.Coordinator.Jobs()
			return len(jobs) == 1 && jobs[0].Done >= 30
		})
		m.Stop()
		time.Sleep(500 * time.Millisecond)
		m.Start()
		t.Logf("mosquitto restarted")
	}()
	in := filepath.Join(imagesDir, "coffee.png")
	start := time.Now()
	got, sum := convertOnCluster(t, tc, in, ".png", twoHundredTiles)
	t.Logf("%d tiles in %v across the restart on %v; stats %+v", sum.Tiles, time.Since(start), sum.TilesByNode, tc.Coordinator.Stats())
	sameBytes(t, "image across a broker restart", got, referenceOutput(t, in, ".png", 30, 40, imagejob.Luma))

	for _, id := range ids {
		n, _ := tc.node(id)
		if n.Session == sessions[id] {
			t.Errorf("node %s still on session %d: it did not announce a new connection", id, n.Session)
		}
	}
}
