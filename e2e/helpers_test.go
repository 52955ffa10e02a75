// Package e2e tests mqcluster as a user runs it: the coordinator and broker
// in the test process, workers as separate processes of the real binary,
// failures made with real signals.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

const imagesDir = "../testdata/images"

// testCluster is a coordinator with its API in the test process, on the
// embedded broker or an external one, and no workers.
type testCluster struct {
	*cluster.Cluster
	client *client.Client

	mu       sync.Mutex
	connects map[string]time.Time // client id -> last connect, embedded broker only
}

func startCluster(t *testing.T, brokerURL string) *testCluster {
	t.Helper()
	tc := &testCluster{connects: map[string]time.Time{}}
	c, err := cluster.Start(context.Background(), cluster.Options{
		BrokerURL: brokerURL, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		Logger: testenv.Logger(t),
		OnBrokerConnect: func(id string) {
			tc.mu.Lock()
			tc.connects[id] = time.Now()
			tc.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tc.Cluster = c
	startClient(t, tc)
	return tc
}

func startClient(t *testing.T, tc *testCluster) {
	t.Helper()
	var err error
	if tc.client, err = client.New(tc.APIURL, nil); err != nil {
		t.Fatal(err)
	}
}

func (tc *testCluster) connectedAt(id string) (time.Time, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	at, ok := tc.connects[id]
	return at, ok
}

// node returns the coordinator's view of node id.
func (tc *testCluster) node(id string) (api.Node, bool) {
	for _, n := range tc.Coordinator.Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return api.Node{}, false
}

func (tc *testCluster) nodeState(id string) string {
	n, ok := tc.node(id)
	if !ok {
		return "unknown"
	}
	return n.State
}

// startWorker runs `mqcluster worker` as a separate process with one slot,
// quick heartbeats and a short keepalive.
func startWorker(t *testing.T, brokerURL, id string, extra ...string) *testenv.Process {
	t.Helper()
	args := append([]string{"worker", "--broker", brokerURL, "--id", id, "--slots", "1",
		"--heartbeat", "250ms", "--keepalive", "2s", "--log-format", "text"}, extra...)
	return testenv.StartProcess(t, id, args...)
}

// waitFor polls cond every 5 ms until it holds or timeout passes, and
// returns how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not true after %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// referenceOutput converts in within this process, with no cluster, and
// returns the bytes of the file it writes.
func referenceOutput(t *testing.T, in, ext string, tileW, tileH int, method imagejob.Method) []byte {
	t.Helper()
	p, err := imagejob.Load(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := imagejob.ConvertLocal(p, method)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "reference"+ext)
	if err := imagejob.Save(out, g.Image()); err != nil {
		t.Fatal(err)
	}
	return readFile(t, out)
}

// convertOnCluster runs the grayscale job on tc and returns the output bytes.
func convertOnCluster(t *testing.T, tc *testCluster, in, ext string, opts imagejob.ConvertOptions) ([]byte, imagejob.Summary) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cluster"+ext)
	input, err := imagejob.Prepare(in, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := imagejob.Convert(ctx, tc.client, input, opts)
	if err != nil {
		t.Fatal(err)
	}
	return readFile(t, out), sum
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes differ from the %d bytes of the reference", what, len(got), len(want))
	}
}

func describe(n api.Node) string {
	return fmt.Sprintf("%s %s session %d in flight %d", n.ID, n.State, n.Session, n.InFlight)
}

// waitOnline waits until every node of ids is online on c.
func waitOnline(t *testing.T, c *coordinator.Coordinator, ids ...string) {
	t.Helper()
	waitFor(t, 15*time.Second, strings.Join(ids, " and ")+" online", func() bool {
		online := 0
		for _, n := range c.Nodes() {
			if slices.Contains(ids, n.ID) && n.State == api.NodeOnline {
				online++
			}
		}
		return online == len(ids)
	})
}
