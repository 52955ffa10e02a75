package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// startCNode runs the firmware's POSIX node, the C core over Paho C, as a
// separate process.
func startCNode(t *testing.T, brokerURL, id string, extra ...string) *testenv.Process {
	t.Helper()
	args := append([]string{"--broker", brokerURL, "--id", id, "--heartbeat", "250", "--keepalive", "2"}, extra...)
	return testenv.StartCNode(t, id, args...)
}

// A cluster of Go workers and C nodes gives the same bytes as the Go-only
// run, at 8 and 16 bits and with both methods.
func TestMixedClusterMatchesGoOnly(t *testing.T) {
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "go-1", "--task-delay", "5ms")
	startWorker(t, tc.BrokerURL, "go-2", "--task-delay", "5ms")
	startCNode(t, tc.BrokerURL, "c-1")
	startCNode(t, tc.BrokerURL, "c-2")
	waitFor(t, 20*time.Second, "4 nodes online", func() bool { return countOnline(tc) == 4 })

	for _, tt := range []struct {
		image  string
		tile   int
		method imagejob.Method
	}{
		{"coffee.png", 64, imagejob.Luma},
		{"chelsea.png", 50, imagejob.Average},
		{"rgba16.png", 16, imagejob.Luma},
		{"rgb16.png", 20, imagejob.Average},
	} {
		t.Run(fmt.Sprintf("%s/%s", tt.image, tt.method), func(t *testing.T) {
			in := filepath.Join(imagesDir, tt.image)
			opts := imagejob.ConvertOptions{TileWidth: tt.tile, TileHeight: tt.tile, Method: tt.method}
			got, sum := convertOnCluster(t, tc, in, ".png", opts)
			sameBytes(t, "mixed cluster", got, referenceOutput(t, in, ".png", tt.tile, tt.tile, tt.method))
			t.Logf("%d tiles by node: %v", sum.Tiles, sum.TilesByNode)
			if sum.TilesByNode["c-1"]+sum.TilesByNode["c-2"] == 0 {
				t.Errorf("the C nodes converted no tile: %v", sum.TilesByNode)
			}
		})
	}
}

// A C node killed in the middle of a task: the task is finished elsewhere.
func TestCNodeKilledMidTask(t *testing.T) {
	tc := startCluster(t, "")
	c := startCNode(t, tc.BrokerURL, "c-slow", "--task-delay", "3000")
	waitFor(t, 20*time.Second, "C node online", func() bool { return tc.nodeState("c-slow") == api.NodeOnline })

	in := filepath.Join(imagesDir, "chelsea.png")
	done := make(chan []byte, 1)
	go func() {
		got, _ := convertOnCluster(t, tc, in, ".png", imagejob.ConvertOptions{})
		done <- got
	}()
	waitFor(t, 10*time.Second, "C node holding a tile", func() bool {
		n, _ := tc.node("c-slow")
		return n.InFlight == 1
	})
	c.Signal(syscall.SIGKILL)
	took := waitFor(t, 5*time.Second, "C node offline", func() bool { return tc.nodeState("c-slow") == api.NodeOffline })
	t.Logf("C node offline %v after SIGKILL", took)
	startWorker(t, tc.BrokerURL, "rescuer")

	select {
	case got := <-done:
		sameBytes(t, "after the C node's death", got, referenceOutput(t, in, ".png", 128, 128, imagejob.Luma))
	case <-time.After(60 * time.Second):
		t.Fatal("job not done 60s after the C node was killed")
	}
	if st := tc.Coordinator.Stats(); st.Reassignments == 0 {
		t.Errorf("no task reassigned after the C node died holding one")
	}
}

// A tile larger than a C node's buffer goes to a node that can take it,
// while the tiles that fit still go to the C node.
func TestLargeTileSkipsSmallCNode(t *testing.T) {
	tc := startCluster(t, "")
	// coffee.png is 600x400: tiles of 64 leave 24x16 tiles at the right and
	// bottom edges. A buffer of 61 + 6 + 24*64*3 bytes takes the 24x64
	// tiles and nothing wider.
	startCNode(t, tc.BrokerURL, "c-small", "--buffer", fmt.Sprint(61+6+24*64*3))
	startWorker(t, tc.BrokerURL, "go-big", "--task-delay", "20ms")
	waitFor(t, 20*time.Second, "2 nodes online", func() bool { return countOnline(tc) == 2 })
	n, _ := tc.node("c-small")
	t.Logf("C node announces a max payload of %d bytes", n.MaxPayload)

	in := filepath.Join(imagesDir, "coffee.png")
	got, sum := convertOnCluster(t, tc, in, ".png", imagejob.ConvertOptions{TileWidth: 64, TileHeight: 64})
	sameBytes(t, "with a small C node", got, referenceOutput(t, in, ".png", 64, 64, imagejob.Luma))
	res, err := tc.client.Results(t.Context(), sum.JobID)
	if err != nil {
		t.Fatal(err)
	}
	input, _ := imagejob.Prepare(in, filepath.Join(t.TempDir(), "x.png"), imagejob.ConvertOptions{TileWidth: 64, TileHeight: 64})
	small := 0
	for i, r := range res.Tasks {
		tile := input.Tiles[i]
		fits := int64(len(tile.Payload)) <= n.MaxPayload
		if r.Node == "c-small" && !fits {
			t.Errorf("%s of %d bytes ran on c-small, which takes %d at most", tile, len(tile.Payload), n.MaxPayload)
		}
		if r.Node == "c-small" {
			small++
		}
	}
	t.Logf("tiles by node: %v", sum.TilesByNode)
	if small == 0 {
		t.Errorf("c-small converted no tile, though the edge tiles fit it")
	}
}

func TestCNodeRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--id", "a/b"}, {"--broker"}, {"--id", "x", "--buffer", "10"}} {
		code, _, stderr := runCommand(t, testenv.CNode(t), args...)
		if code != 2 || !strings.Contains(stderr, "mqc-node") {
			t.Errorf("mqc-node %v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
}

func TestCNodeHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		code, stdout, stderr := runCommand(t, testenv.CNode(t), flag)
		if code != 0 {
			t.Errorf("mqc-node %s: exit %d, want 0; stderr %q", flag, code, stderr)
		}
		if !strings.Contains(stdout, "usage: mqc-node --broker") {
			t.Errorf("mqc-node %s: stdout %q, want the usage", flag, stdout)
		}
	}
}
