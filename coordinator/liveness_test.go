package coordinator_test

import (
	"context"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/worker"
)

// A task that takes longer than the keepalive must not stop the worker's
// MQTT client from sending keepalive pings and heartbeats.
func TestSlowTaskKeepsNodeOnline(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	slow := func(ctx context.Context, payload []byte) ([]byte, error) {
		time.Sleep(1500 * time.Millisecond)
		return payload, nil
	}
	testenv.StartWorker(t, url, worker.Options{
		NodeID: "busy", Slots: 1, Batch: 3, KeepAlive: time.Second, Heartbeat: 200 * time.Millisecond,
	}, map[string]worker.HandlerFunc{"noop": slow})
	waitNodes(t, c, 1)
	before := c.Nodes()[0].Session

	job, _ := c.Submit(noopJob(3))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ended := make(chan api.Job, 1)
	go func() { j, _ := c.WaitJob(ctx, job.ID); ended <- j }()
	for {
		select {
		case j := <-ended:
			if j.State != api.JobDone {
				t.Fatalf("job %s, want done", j.State)
			}
			if after := c.Nodes()[0].Session; after != before {
				t.Errorf("session %d became %d: the worker reconnected during slow tasks", before, after)
			}
			return
		case <-time.After(20 * time.Millisecond):
			if n := c.Nodes()[0]; n.State != api.NodeOnline {
				t.Fatalf("node %s (%s) while running a 1.5s task with a 1s keepalive", n.State, n.Reason)
			}
		}
	}
}
