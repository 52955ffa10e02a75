package coordinator_test

import (
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/protocol"
)

func TestDuplicateAndForeignResultsDropped(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	a := startRawNode(t, url, "raw-a", 1, "noop")
	b := startRawNode(t, url, "raw-b", 1, "noop")
	waitNodes(t, c, 2)

	job, _ := c.Submit(noopJob(2))
	ta, tb := a.nextTasks().Tasks[0], b.nextTasks().Tasks[0]

	// raw-b sends a result for the task given to raw-a: not accepted.
	b.sendResults(protocol.Result{ID: ta.ID, Attempt: ta.Attempt, Data: []byte("forged")})
	// raw-a sends its result twice, as a QoS 1 redelivery would: accepted once.
	ok := protocol.Result{ID: ta.ID, Attempt: ta.Attempt, Data: ta.Payload}
	a.sendResults(ok)
	a.sendResults(ok)
	b.sendResults(protocol.Result{ID: tb.ID, Attempt: tb.Attempt, Data: tb.Payload})
	// A result for a task id that does not exist.
	a.sendResults(protocol.Result{ID: 12345, Attempt: 1})

	j := waitJob(t, c, job.ID, 10*time.Second)
	if j.State != api.JobDone {
		t.Fatalf("job %s, want done", j.State)
	}
	waitStats(t, c, func(s api.Stats) bool { return s.DuplicatesDropped == 1 && s.ForeignResults == 2 })
	st := c.Stats()
	if st.ResultsAccepted != 2 {
		t.Errorf("results accepted = %d, want 2", st.ResultsAccepted)
	}
	res, _ := c.Results(job.ID)
	for _, r := range res.Tasks {
		if string(r.Output) == "forged" {
			t.Errorf("task %d output is the forged one from %s", r.Index, r.Node)
		}
		if string(r.Output) == string(ta.Payload) && r.Node != "raw-a" {
			t.Errorf("task %d accepted from %s, want raw-a, which it was given to", r.Index, r.Node)
		}
	}
}

// waitStats polls the coordinator's counters until cond holds, for up to 5s.
func waitStats(t *testing.T, c *coordinator.Coordinator, cond func(api.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond(c.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: condition not met within 5s", c.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A result that arrives after the deadline still wins while the task is
// unfinished, and the retry that the deadline caused is dropped.
func TestLateResultAfterDeadlineWins(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{TaskDeadline: 200 * time.Millisecond})
	slow := startRawNode(t, url, "slow", 1, "noop")
	waitNodes(t, c, 1)
	job, _ := c.Submit(noopJob(1))
	first := slow.nextTasks().Tasks[0]

	// Past the deadline the task is queued again. The slow node's slot stays
	// taken by the attempt it still holds, so a second node gets the retry.
	retryNode := startRawNode(t, url, "spare", 1, "noop")
	second := retryNode.nextTasks().Tasks[0]
	if second.ID != first.ID || second.Attempt != 2 {
		t.Fatalf("spare got task %d attempt %d, want task %d attempt 2", second.ID, second.Attempt, first.ID)
	}

	slow.sendResults(protocol.Result{ID: first.ID, Attempt: first.Attempt, Data: []byte("late but first")})
	j := waitJob(t, c, job.ID, 10*time.Second)
	if j.State != api.JobDone {
		t.Fatalf("job %s, want done", j.State)
	}
	retryNode.sendResults(protocol.Result{ID: second.ID, Attempt: second.Attempt, Data: []byte("second")})
	waitStats(t, c, func(s api.Stats) bool { return s.DuplicatesDropped == 1 })
	res, _ := c.Results(job.ID)
	if got := string(res.Tasks[0].Output); got != "late but first" {
		t.Errorf("output %q, want the first result to arrive", got)
	}
}

// A task declined by a draining node runs again without using up one of its
// attempts.
func TestDeclinedTaskDoesNotCountAsAttempt(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{MaxAttempts: 1})
	n := startRawNode(t, url, "decliner", 1, "noop")
	waitNodes(t, c, 1)
	job, _ := c.Submit(noopJob(1))
	for range 3 {
		task := n.nextTasks().Tasks[0]
		n.sendResults(protocol.Result{ID: task.ID, Attempt: task.Attempt, Status: protocol.StatusDeclined, Data: []byte("draining")})
	}
	task := n.nextTasks().Tasks[0]
	if task.Attempt != 4 {
		t.Errorf("attempt %d after 3 declines, want 4", task.Attempt)
	}
	n.sendResults(protocol.Result{ID: task.ID, Attempt: task.Attempt, Data: []byte("done")})
	if j := waitJob(t, c, job.ID, 10*time.Second); j.State != api.JobDone {
		t.Errorf("job %s with max attempts 1 after 3 declines, want done", j.State)
	}
}

// A birth of an older connection, resent late, does not replace the
// node's current session.
func TestStaleBirthIgnored(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	n := startRawNode(t, url, "resent", 1, "noop")
	waitNodes(t, c, 1)
	n.publish(protocol.ChannelPresence, true, &protocol.Birth{
		Session: n.session - 1, Slots: 1, Batch: 1, MaxPayload: 1 << 20, HeartbeatMS: 60_000,
		NodeID: "resent", Software: "raw-test-node", Kinds: []string{"noop"},
	})
	waitStats(t, c, func(s api.Stats) bool { return s.StalePresence == 1 })
	if got := c.Nodes()[0].Session; got != n.session {
		t.Errorf("session %d after a stale birth, want %d", got, n.session)
	}
}
