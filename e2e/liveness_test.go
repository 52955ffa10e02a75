package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
)

func TestNodeDiscovery(t *testing.T) {
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "disco-1")
	waitFor(t, 10*time.Second, "worker connected to the broker", func() bool {
		_, ok := tc.connectedAt("mqc/v1/default/disco-1")
		return ok
	})
	connected, _ := tc.connectedAt("mqc/v1/default/disco-1")
	waitFor(t, 5*time.Second, "node online", func() bool { return tc.nodeState("disco-1") == api.NodeOnline })
	seen := time.Since(connected)
	// The poll can only overstate the time, by its 5 ms period.
	t.Logf("node online %v after its connection", seen)
	if seen > time.Second {
		t.Errorf("node online %v after connecting, want within 1s", seen)
	}
}

func TestNodeLostOnSIGKILL(t *testing.T) {
	tc := startCluster(t, "")
	p := startWorker(t, tc.BrokerURL, "kill-1")
	waitFor(t, 10*time.Second, "node online", func() bool { return tc.nodeState("kill-1") == api.NodeOnline })

	p.Signal(syscall.SIGKILL)
	took := waitFor(t, 10*time.Second, "node offline", func() bool { return tc.nodeState("kill-1") == api.NodeOffline })
	n, _ := tc.node("kill-1")
	t.Logf("node offline %v after SIGKILL (%s)", took, n.Reason)
	if took > 2*time.Second {
		t.Errorf("node offline %v after SIGKILL, want within 2s", took)
	}
}

func TestNodeLostOnSIGSTOP(t *testing.T) {
	tc := startCluster(t, "")
	const keepalive = 2 * time.Second // startWorker's --keepalive
	p := startWorker(t, tc.BrokerURL, "stop-1")
	waitFor(t, 10*time.Second, "node online", func() bool { return tc.nodeState("stop-1") == api.NodeOnline })

	p.Signal(syscall.SIGSTOP)
	limit := keepalive*3/2 + time.Second
	took := waitFor(t, 2*limit, "node offline", func() bool { return tc.nodeState("stop-1") == api.NodeOffline })
	n, _ := tc.node("stop-1")
	t.Logf("node offline %v after SIGSTOP (%s)", took, n.Reason)
	if took > limit {
		t.Errorf("node offline %v after SIGSTOP, want within keepalive x 1.5 + 1s = %v", took, limit)
	}

	// Continued, the process finds its connection gone or alive and is
	// back online either way.
	p.Signal(syscall.SIGCONT)
	back := waitFor(t, 15*time.Second, "node back online", func() bool { return tc.nodeState("stop-1") == api.NodeOnline })
	t.Logf("node online again %v after SIGCONT", back)
}
