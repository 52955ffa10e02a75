package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	"github.com/mqcluster/mqcluster/worker"
)

func waitNodes(t *testing.T, c *coordinator.Coordinator, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		online := 0
		for _, node := range c.Nodes() {
			if node.State == api.NodeOnline {
				online++
			}
		}
		if online == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d nodes online after 10s, want %d", online, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSchedulerMatchesKindAndPayloadSize(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	startWorker(t, url, worker.Options{NodeID: "small", Slots: 2, MaxPayload: 16})
	startWorker(t, url, worker.Options{NodeID: "big", Slots: 2, MaxPayload: 1 << 20})
	testenv.StartWorker(t, url, worker.Options{NodeID: "sleeper", Slots: 4},
		map[string]worker.HandlerFunc{builtin.SleepKind: builtin.Sleep})
	waitNodes(t, c, 3)

	spec := api.JobSpec{}
	for i := range 40 {
		size := 8
		if i%2 == 1 {
			size = 1000
		}
		spec.Tasks = append(spec.Tasks, api.TaskSpec{Kind: builtin.NoopKind, Payload: bytes.Repeat([]byte{byte(i)}, size)})
	}
	job, err := c.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, c, job.ID, 20*time.Second); j.State != api.JobDone {
		t.Fatalf("job %s, want done: %+v", j.State, j)
	}
	res, _ := c.Results(job.ID)
	byNode := map[string]int{}
	for i, r := range res.Tasks {
		byNode[r.Node]++
		if i%2 == 1 && r.Node != "big" {
			t.Errorf("task %d with a 1000-byte payload ran on %q, which accepts 16 bytes at most", i, r.Node)
		}
	}
	t.Logf("tasks by node: %v", byNode)
	if byNode["sleeper"] != 0 {
		t.Errorf("node sleeper, which has no noop handler, got %d noop tasks", byNode["sleeper"])
	}
	if byNode["small"] == 0 {
		t.Errorf("node small got no task, though half the tasks fit it")
	}
}

// concurrency counts how many handler calls run at once.
type concurrency struct {
	now, max atomic.Int32
}

func (c *concurrency) handler(d time.Duration) worker.HandlerFunc {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		n := c.now.Add(1)
		defer c.now.Add(-1)
		for {
			m := c.max.Load()
			if n <= m || c.max.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(d)
		return payload, nil
	}
}

func TestNodeNeverExceedsSlots(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	var a, b concurrency
	testenv.StartWorker(t, url, worker.Options{NodeID: "a", Slots: 3, Batch: 8}, map[string]worker.HandlerFunc{builtin.NoopKind: a.handler(5 * time.Millisecond)})
	testenv.StartWorker(t, url, worker.Options{NodeID: "b", Slots: 1, Batch: 8}, map[string]worker.HandlerFunc{builtin.NoopKind: b.handler(5 * time.Millisecond)})
	waitNodes(t, c, 2)

	job, err := c.Submit(noopJob(200))
	if err != nil {
		t.Fatal(err)
	}
	var overbooked atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			for _, n := range c.Nodes() {
				if n.InFlight > n.Slots+n.Prefetch {
					overbooked.Store(true)
					t.Errorf("node %s holds %d tasks with %d slots and a prefetch of %d", n.ID, n.InFlight, n.Slots, n.Prefetch)
				}
			}
		}
	}()
	waitJob(t, c, job.ID, 30*time.Second)
	close(done)
	wg.Wait()
	t.Logf("most tasks at once: node a %d (3 slots), node b %d (1 slot)", a.max.Load(), b.max.Load())
	if a.max.Load() != 3 || b.max.Load() != 1 {
		t.Errorf("most tasks at once: a %d, b %d; want 3 and 1", a.max.Load(), b.max.Load())
	}
	res, _ := c.Results(job.ID)
	perNode := map[string]int{}
	for _, r := range res.Tasks {
		perNode[r.Node]++
	}
	// Node a frees three slots for every one of b's: it must get more work.
	if perNode["a"] <= perNode["b"] {
		t.Errorf("tasks per node %v: the node with 3 slots should do more than the one with 1", perNode)
	}
}

func TestFailingTaskEndsFailedWithEveryReason(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	handlers := map[string]worker.HandlerFunc{
		builtin.NoopKind: builtin.Noop,
		"boom": func(context.Context, []byte) ([]byte, error) {
			return nil, errors.New("boom: the input is cursed")
		},
		"panic": func(context.Context, []byte) ([]byte, error) {
			panic("index out of range")
		},
	}
	testenv.StartWorker(t, url, worker.Options{NodeID: "w1", Slots: 2}, handlers)
	testenv.StartWorker(t, url, worker.Options{NodeID: "w2", Slots: 2}, handlers)
	waitNodes(t, c, 2)

	spec := noopJob(5)
	spec.Tasks = append(spec.Tasks, api.TaskSpec{Kind: "boom"}, api.TaskSpec{Kind: "panic"})
	job, err := c.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, job.ID, 20*time.Second)
	if j.State != api.JobFailed || j.Done != 5 || j.Failed != 2 {
		t.Fatalf("job %s with %d done, %d failed; want failed with 5 and 2", j.State, j.Done, j.Failed)
	}
	for _, f := range j.Failures {
		if len(f.Attempts) != 3 {
			t.Errorf("task %d: %d attempts, want 3 (the default maximum)", f.Index, len(f.Attempts))
		}
		want := map[int]string{5: "boom: the input is cursed", 6: "panic in panic handler: index out of range"}[f.Index]
		for _, a := range f.Attempts {
			if a.Outcome != "failed" || !strings.Contains(a.Error, want) {
				t.Errorf("task %d attempt %d: %s %q, want failed with %q", f.Index, a.Number, a.Outcome, a.Error, want)
			}
		}
	}
	// The cluster is not hurt: another job still runs.
	next, _ := c.Submit(noopJob(10))
	if j := waitJob(t, c, next.ID, 20*time.Second); j.State != api.JobDone {
		t.Errorf("next job %s, want done", j.State)
	}
}

func TestMaxAttemptsFromSpec(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	testenv.StartWorker(t, url, worker.Options{NodeID: "w1"}, map[string]worker.HandlerFunc{
		"boom": func(context.Context, []byte) ([]byte, error) { return nil, errors.New("boom") },
	})
	waitNodes(t, c, 1)
	job, _ := c.Submit(api.JobSpec{MaxAttempts: 5, Tasks: []api.TaskSpec{{Kind: "boom"}}})
	j := waitJob(t, c, job.ID, 20*time.Second)
	if len(j.Failures) != 1 || len(j.Failures[0].Attempts) != 5 {
		t.Fatalf("failures %+v, want one task with 5 attempts", j.Failures)
	}
}

// A task that failed on one node runs its next attempt on another, so a
// single broken node cannot use up all of a task's attempts.
func TestRetryPrefersAnotherNode(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	testenv.StartWorker(t, url, worker.Options{NodeID: "broken", Slots: 1}, map[string]worker.HandlerFunc{
		builtin.NoopKind: func(context.Context, []byte) ([]byte, error) { return nil, errors.New("disk full") },
	})
	var healthy concurrency
	testenv.StartWorker(t, url, worker.Options{NodeID: "healthy", Slots: 1}, map[string]worker.HandlerFunc{
		builtin.NoopKind: healthy.handler(5 * time.Millisecond),
	})
	waitNodes(t, c, 2)

	spec := noopJob(20)
	spec.MaxAttempts = 2
	job, _ := c.Submit(spec)
	j := waitJob(t, c, job.ID, 20*time.Second)
	if j.State != api.JobDone {
		t.Fatalf("job %s with %d failed: %+v", j.State, j.Failed, j.Failures)
	}
	res, _ := c.Results(job.ID)
	for _, r := range res.Tasks {
		if r.Node != "healthy" {
			t.Errorf("task %d done by %q, want healthy", r.Index, r.Node)
		}
	}
}

// A node that runs two kinds takes the task that has waited longest, whatever
// its kind's name: a queue of "b" tasks submitted first runs before an "a"
// task submitted later.
func TestKindsServedByAge(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	first, _ := c.Submit(api.JobSpec{Tasks: []api.TaskSpec{{Kind: "b-kind"}, {Kind: "b-kind"}, {Kind: "b-kind"}}})
	second, _ := c.Submit(api.JobSpec{Tasks: []api.TaskSpec{{Kind: "a-kind"}}})
	var order []string
	var mu sync.Mutex
	record := func(kind string) worker.HandlerFunc {
		return func(context.Context, []byte) ([]byte, error) {
			mu.Lock()
			order = append(order, kind)
			mu.Unlock()
			return nil, nil
		}
	}
	testenv.StartWorker(t, url, worker.Options{NodeID: "both", Slots: 1, Batch: 1},
		map[string]worker.HandlerFunc{"a-kind": record("a"), "b-kind": record("b")})
	waitJob(t, c, first.ID, 10*time.Second)
	waitJob(t, c, second.ID, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, "") != "bbba" {
		t.Errorf("tasks ran in kind order %v, want the older b tasks first: bbba", order)
	}
}

// Free slots on every node are filled before any node's prefetch, and a
// node is prefetched only while the queue is at least as long as the
// cluster's slots, so a short job spreads over the nodes.
func TestPrefetchComesAfterFreeSlots(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	for _, id := range []string{"a", "b"} {
		startWorker(t, url, worker.Options{NodeID: id, Slots: 1, Prefetch: 2})
	}
	waitNodes(t, c, 2)
	holding := func(want ...int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var got []int
			for _, n := range c.Nodes() {
				got = append(got, n.InFlight)
			}
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("nodes hold %v tasks, want %v", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// 3 tasks on 2 slots: one waits in the coordinator's queue, where the
	// first slot to free takes it.
	short, _ := c.Submit(sleepJob(3, time.Minute))
	holding(1, 1)
	time.Sleep(50 * time.Millisecond)
	holding(1, 1)
	long, _ := c.Submit(sleepJob(10, time.Minute))
	holding(3, 3)
	queued := 0
	for _, id := range []string{short.ID, long.ID} {
		j, _ := c.Job(id)
		queued += j.Queued
	}
	if queued != 7 {
		t.Errorf("%d tasks queued, want 7", queued)
	}
	for _, id := range []string{short.ID, long.ID} {
		if _, err := c.Cancel(id); err != nil {
			t.Fatal(err)
		}
	}
	holding(0, 0)
}
