package e2e

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// stopWithSIGTERM sends SIGTERM to p and fails the test unless p exits
// within timeout. It returns how long p took.
func stopWithSIGTERM(t *testing.T, p *testenv.Process, name string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Done():
		return time.Since(start)
	case <-time.After(timeout):
		t.Fatalf("%s still running %v after SIGTERM", name, timeout)
		return 0
	}
}

// lineIndex returns the index of the first line that contains text, or -1.
func lineIndex(lines []string, text string) int {
	for i, l := range lines {
		if strings.Contains(l, text) {
			return i
		}
	}
	return -1
}

// A C node stopped with SIGTERM and started again with the same id finds
// its own clean death retained on its presence topic. It must still be
// online within 5 s, take tasks, and exit within 5 s of the next SIGTERM.
func TestCNodeRestartSameID(t *testing.T) {
	const id = "c-restart"
	tc := startCluster(t, "")

	first := startCNode(t, tc.BrokerURL, id)
	waitFor(t, 20*time.Second, "first run online", func() bool { return tc.nodeState(id) == api.NodeOnline })
	firstNode, _ := tc.node(id)
	took := stopWithSIGTERM(t, first, "first run", 5*time.Second)
	t.Logf("first run stopped %v after SIGTERM", took)
	waitFor(t, 5*time.Second, "first run offline", func() bool { return tc.nodeState(id) == api.NodeOffline })

	second := startCNode(t, tc.BrokerURL, id)
	took = waitFor(t, 5*time.Second, "second run online", func() bool { return tc.nodeState(id) == api.NodeOnline })
	t.Logf("second run online %v after its start", took)
	secondNode, _ := tc.node(id)
	if secondNode.Session == firstNode.Session {
		t.Errorf("second run announced session %d, the same as the first run", secondNode.Session)
	}
	second.WaitOutput(t, "connected and announced", 5*time.Second)
	lines := second.Output()
	connected, announced := lineIndex(lines, "connected to "), lineIndex(lines, "connected and announced")
	if connected < 0 || connected > announced {
		t.Errorf("log line %q not before %q: %q", "connected to", "connected and announced", lines)
	}

	in := filepath.Join(imagesDir, "coffee.png")
	got, sum := convertOnCluster(t, tc, in, ".png", imagejob.ConvertOptions{TileWidth: 64, TileHeight: 64})
	sameBytes(t, "after a restart", got, referenceOutput(t, in, ".png", 64, 64, imagejob.Luma))
	if sum.TilesByNode[id] != sum.Tiles {
		t.Errorf("%s converted %d of %d tiles, want all: %v", id, sum.TilesByNode[id], sum.Tiles, sum.TilesByNode)
	}

	took = stopWithSIGTERM(t, second, "second run", 5*time.Second)
	t.Logf("second run stopped %v after SIGTERM", took)
	second.WaitOutput(t, "stopped", time.Second)
}
