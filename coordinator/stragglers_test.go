package coordinator_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	"github.com/mqcluster/mqcluster/worker"
)

// oneSlowRun returns a handler that takes 10 s the first time any node runs
// the payload "slow", as a node stuck on one task would, and 5 ms otherwise.
func oneSlowRun() worker.HandlerFunc {
	var slowSeen atomic.Bool
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		d := 5 * time.Millisecond
		if string(payload) == "slow" && slowSeen.CompareAndSwap(false, true) {
			d = 10 * time.Second
		}
		select {
		case <-time.After(d):
			return payload, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func stragglerJob() api.JobSpec {
	spec := noopJob(20)
	spec.Tasks[3].Payload = []byte("slow")
	return spec
}

func TestStragglerGetsBackupCopy(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	h := oneSlowRun()
	testenv.StartWorker(t, url, worker.Options{NodeID: "s1", Slots: 1}, map[string]worker.HandlerFunc{builtin.NoopKind: h})
	testenv.StartWorker(t, url, worker.Options{NodeID: "s2", Slots: 1}, map[string]worker.HandlerFunc{builtin.NoopKind: h})
	waitNodes(t, c, 2)

	start := time.Now()
	job, _ := c.Submit(stragglerJob())
	j := waitJob(t, c, job.ID, 8*time.Second)
	t.Logf("job with a stuck task done in %v, %d backup copies", time.Since(start), c.Stats().Backups)
	if j.State != api.JobDone {
		t.Fatalf("job %s, want done", j.State)
	}
	if c.Stats().Backups == 0 {
		t.Error("no backup copy started for the stuck task")
	}
}

func TestNoBackupsWaitsForStraggler(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{NoBackups: true})
	h := oneSlowRun()
	testenv.StartWorker(t, url, worker.Options{NodeID: "s1", Slots: 1}, map[string]worker.HandlerFunc{builtin.NoopKind: h})
	testenv.StartWorker(t, url, worker.Options{NodeID: "s2", Slots: 1}, map[string]worker.HandlerFunc{builtin.NoopKind: h})
	waitNodes(t, c, 2)
	job, _ := c.Submit(stragglerJob())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	j, _ := c.WaitJob(ctx, job.ID)
	if j.Ended() || c.Stats().Backups != 0 {
		t.Errorf("with NoBackups: job %s and %d backups after 2s, want running and none", j.State, c.Stats().Backups)
	}
	c.Cancel(job.ID)
}

// Retries after a failure wait 200 ms, then 400 ms and so on, each times a
// random factor from 0.5 to 1.5.
func TestRetryBackoff(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	testenv.StartWorker(t, url, worker.Options{NodeID: "w1"}, map[string]worker.HandlerFunc{
		"boom": func(context.Context, []byte) ([]byte, error) { return nil, context.DeadlineExceeded },
	})
	waitNodes(t, c, 1)
	job, _ := c.Submit(api.JobSpec{MaxAttempts: 4, Tasks: []api.TaskSpec{{Kind: "boom"}}})
	j := waitJob(t, c, job.ID, 20*time.Second)
	attempts := j.Failures[0].Attempts
	for i := 1; i < len(attempts); i++ {
		prev, next := attempts[i-1], attempts[i]
		gap := next.Started.Sub(prev.Started) - time.Duration(prev.Seconds*float64(time.Second))
		least := time.Duration(float64(200*time.Millisecond<<(i-1)) * 0.5)
		t.Logf("attempt %d started %v after attempt %d ended", next.Number, gap.Round(time.Millisecond), prev.Number)
		if gap < least {
			t.Errorf("attempt %d started %v after attempt %d, want at least %v", next.Number, gap, prev.Number, least)
		}
	}
}
