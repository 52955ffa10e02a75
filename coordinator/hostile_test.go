package coordinator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport"
	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

// Garbage from any client of the broker is dropped and counted, and the job
// in progress finishes.
func TestHostileInputDroppedAndCounted(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{MaxResults: 64 << 10})
	startWorker(t, url, worker.Options{NodeID: "honest", Slots: 2})
	waitNodes(t, c, 1)
	job, _ := c.Submit(sleepJob(40, 20*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evil, err := mqtt.Dial(ctx, url, transport.Options{ClientID: "evil"})
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	topics, _ := protocol.NewTopics("", "")
	publish := func(topic string, payload []byte) {
		if err := evil.Publish(ctx, topic, 1, false, payload); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	garbage := func() []byte {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	wrongVersion := []byte{'M', 9, byte(protocol.TypeHeartbeat), 0, 0, 0, 0, 1, 0, 0}
	for range 100 {
		// Garbage and bad tasks straight to the worker: a task of a kind it
		// does not run, a task far over its payload limit, junk bytes.
		publish(topics.Node("honest", protocol.ChannelTasks), garbage())
		bad, _ := protocol.Encode(&protocol.Tasks{Epoch: 1, Tasks: []protocol.Task{{ID: 1 << 61, Attempt: 1, Kind: "nope"}}})
		publish(topics.Node("honest", protocol.ChannelTasks), bad)
	}
	for i := range 300 {
		node := fmt.Sprintf("ghost-%d", i%7)
		publish(topics.Node(node, protocol.ChannelPresence), garbage())
		publish(topics.Node(node, protocol.ChannelHeartbeat), wrongVersion)
		publish(topics.Node(node, protocol.ChannelResults), garbage())
	}
	// Results for tasks that do not exist, and for the honest node's tasks,
	// sent on the honest node's topic by another client.
	forged, _ := protocol.Encode(&protocol.Results{Session: 1, Results: []protocol.Result{{ID: 1 << 60, Attempt: 1}}})
	publish(topics.Node("honest", protocol.ChannelResults), forged)
	publish(topics.Node("nobody", protocol.ChannelResults), forged)
	// An oversized results message and an oversized birth.
	huge, _ := protocol.Encode(&protocol.Results{Session: 1, Results: []protocol.Result{{ID: 5, Attempt: 1, Data: make([]byte, 100<<10)}}})
	publish(topics.Node("honest", protocol.ChannelResults), huge)
	publish(topics.Node("ghost-big", protocol.ChannelPresence), make([]byte, 8<<10))
	// A flood of births of made-up ids.
	for i := range 2000 {
		b, _ := protocol.Encode(&protocol.Birth{Session: 1, Slots: 1, Batch: 1, MaxPayload: 10, HeartbeatMS: 1000,
			NodeID: fmt.Sprintf("flood-%d", i), Kinds: []string{"nothing"}})
		publish(topics.Node(fmt.Sprintf("flood-%d", i), protocol.ChannelPresence), b)
	}

	j := waitJob(t, c, job.ID, 30*time.Second)
	if j.State != api.JobDone {
		t.Fatalf("job %s under hostile input, want done", j.State)
	}
	st := c.Stats()
	t.Logf("stats after the garbage: %+v", st)
	if st.Malformed < 602 {
		t.Errorf("malformed = %d, want at least 602: 600 junk messages and 2 oversized ones", st.Malformed)
	}
	if st.ForeignResults < 2 {
		t.Errorf("foreign results = %d, want at least 2", st.ForeignResults)
	}
	if st.BirthsDropped == 0 && len(c.Nodes()) > 1000 {
		t.Errorf("no birth dropped, and %d nodes registered", len(c.Nodes()))
	}
	if st.ResultsAccepted != 40 {
		t.Errorf("results accepted = %d, want 40", st.ResultsAccepted)
	}
}
