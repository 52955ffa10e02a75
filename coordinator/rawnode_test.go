package coordinator_test

import (
	"context"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport"
	"github.com/mqcluster/mqcluster/transport/mqtt"
)

// rawNode speaks the protocol by hand over a real MQTT connection, so a test
// can send what a well-behaved worker never would: duplicates, late results,
// results for tasks it was not given.
type rawNode struct {
	t       *testing.T
	id      string
	session uint32
	conn    transport.Conn
	topics  protocol.Topics
	tasks   chan *protocol.Tasks
	aborts  chan *protocol.Abort
}

func startRawNode(t *testing.T, url, id string, slots uint16, kinds ...string) *rawNode {
	t.Helper()
	topics, _ := protocol.NewTopics("", "")
	n := &rawNode{t: t, id: id, session: 7, topics: topics, tasks: make(chan *protocol.Tasks, 16),
		aborts: make(chan *protocol.Abort, 16)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := mqtt.Dial(ctx, url, transport.Options{ClientID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	n.conn = conn
	err = conn.Subscribe(ctx, topics.Node(id, protocol.ChannelTasks), 1, func(m transport.Message) {
		msg, err := protocol.Decode(m.Payload)
		if err != nil {
			t.Errorf("raw node %s: %v", id, err)
			return
		}
		switch m := msg.(type) {
		case *protocol.Tasks:
			n.tasks <- m
		case *protocol.Abort:
			n.aborts <- m
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	n.publish(protocol.ChannelPresence, true, &protocol.Birth{
		Session: n.session, Slots: slots, Batch: slots, MaxPayload: 1 << 20, HeartbeatMS: 60_000,
		NodeID: id, Software: "raw-test-node", Kinds: kinds,
	})
	return n
}

func (n *rawNode) publish(channel string, retain bool, m protocol.Message) {
	n.t.Helper()
	b, err := protocol.Encode(m)
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.conn.Publish(ctx, n.topics.Node(n.id, channel), 1, retain, b); err != nil {
		n.t.Fatal(err)
	}
}

func (n *rawNode) sendResults(results ...protocol.Result) {
	n.t.Helper()
	n.publish(protocol.ChannelResults, false, &protocol.Results{Session: n.session, Results: results})
}

func (n *rawNode) nextTasks() *protocol.Tasks {
	n.t.Helper()
	select {
	case m := <-n.tasks:
		return m
	case <-time.After(10 * time.Second):
		n.t.Fatalf("raw node %s: no tasks message within 10s", n.id)
		return nil
	}
}
