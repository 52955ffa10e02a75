package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport"
	"github.com/mqcluster/mqcluster/transport/mqtt"
)

// A node process that stops responding is replaced by a new process with the
// same id: the broker takes the session over and publishes the old
// connection's will, which may arrive after the new birth. The node must end
// up online with the new session.
func TestStaleWillAfterTakeover(t *testing.T) {
	tc := startCluster(t, "")
	old := startWorker(t, tc.BrokerURL, "twin")
	waitFor(t, 10*time.Second, "first process online", func() bool { return tc.nodeState("twin") == api.NodeOnline })
	first, _ := tc.node("twin")

	old.Signal(syscall.SIGSTOP)
	startWorker(t, tc.BrokerURL, "twin")
	waitFor(t, 10*time.Second, "second process online", func() bool {
		n, _ := tc.node("twin")
		return n.State == api.NodeOnline && n.Session != first.Session
	})
	old.Signal(syscall.SIGKILL)

	// Three heartbeat timeouts of the new process, in which the old will
	// has long arrived.
	time.Sleep(3 * time.Second)
	n, _ := tc.node("twin")
	if n.State != api.NodeOnline || n.Session == first.Session {
		t.Fatalf("node %s; want online with a session other than %d", describe(n), first.Session)
	}
	t.Logf("node online with session %d (first process: %d); stale wills ignored: %d",
		n.Session, first.Session, tc.Coordinator.Stats().StalePresence)
}

// The late will is published here by hand, through the broker, after the
// node's birth, so the race happens every run.
func TestStaleWillIgnored(t *testing.T) {
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "race-1")
	waitFor(t, 10*time.Second, "node online", func() bool { return tc.nodeState("race-1") == api.NodeOnline })
	n, _ := tc.node("race-1")

	topics, _ := protocol.NewTopics("", "")
	presence := topics.Node("race-1", protocol.ChannelPresence)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := mqtt.Dial(ctx, tc.BrokerURL, transport.Options{ClientID: "stale-will-publisher"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	will, _ := protocol.Encode(&protocol.Death{Session: n.Session - 1, Reason: protocol.DeathConnectionLost})
	if err := conn.Publish(ctx, presence, 1, true, will); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 5*time.Second, "stale will counted", func() bool { return tc.Coordinator.Stats().StalePresence == 1 })
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s := tc.nodeState("race-1"); s != api.NodeOnline {
			t.Fatalf("node %s after a will of an older session, want online", s)
		}
	}

	// The stale will replaced the retained birth; the node must put its
	// birth back, or a coordinator started now would think it offline.
	retained := make(chan protocol.Type, 8)
	err = conn.Subscribe(ctx, presence, 1, func(m transport.Message) {
		if typ, err := protocol.DecodeHeader(m.Payload); err == nil && m.Retained {
			retained <- typ
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case typ := <-retained:
		if typ != protocol.TypeBirth {
			t.Errorf("retained presence is a %s, want a birth", typ)
		}
	case <-ctx.Done():
		t.Fatal("no retained presence message")
	}
}
