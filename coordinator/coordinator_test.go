package coordinator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

func startCoordinator(t *testing.T, brokerURL string, opts coordinator.Options) *coordinator.Coordinator {
	t.Helper()
	opts.Logger = testenv.Logger(t).With("component", "coordinator")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := coordinator.Start(ctx, mqtt.Dialer(brokerURL), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startWorker runs an in-process worker with the noop and sleep kinds until
// the test ends.
func startWorker(t *testing.T, brokerURL string, opts worker.Options) {
	t.Helper()
	testenv.StartWorker(t, brokerURL, opts, map[string]worker.HandlerFunc{
		builtin.NoopKind: builtin.Noop, builtin.SleepKind: builtin.Sleep,
	})
}

func noopJob(n int) api.JobSpec {
	spec := api.JobSpec{Name: "noop"}
	for i := range n {
		spec.Tasks = append(spec.Tasks, api.TaskSpec{Kind: builtin.NoopKind, Payload: []byte(fmt.Sprint(i))})
	}
	return spec
}

func waitJob(t *testing.T, c *coordinator.Coordinator, id string, timeout time.Duration) api.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	job, err := c.WaitJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !job.Ended() {
		t.Fatalf("job %s still %s after %v: %+v", id, job.State, timeout, job)
	}
	return job
}

func TestNoopJobRunsOnTwoWorkers(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	startWorker(t, url, worker.Options{NodeID: "w1", Slots: 2})
	startWorker(t, url, worker.Options{NodeID: "w2", Slots: 2})

	job, err := c.Submit(noopJob(500))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := waitJob(t, c, job.ID, 20*time.Second)
	t.Logf("500 noop tasks in %v", time.Since(start))
	if done.State != api.JobDone || done.Done != 500 {
		t.Fatalf("job = %+v, want done with 500 tasks", done)
	}
	res, err := c.Results(job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Tasks {
		if string(r.Output) != fmt.Sprint(i) {
			t.Fatalf("task %d output %q, want %q", i, r.Output, fmt.Sprint(i))
		}
	}
	if st := c.Stats(); st.ResultsAccepted != 500 {
		t.Errorf("results accepted = %d, want 500", st.ResultsAccepted)
	}
}

func workerOptions(id string) worker.Options {
	return worker.Options{NodeID: id, Slots: 1}
}
