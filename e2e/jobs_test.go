package e2e

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// coffee.png is 600x400: tiles of 30x40 make 20 x 10 = 200 tasks.
var twoHundredTiles = imagejob.ConvertOptions{TileWidth: 30, TileHeight: 40}

func TestImageJobSurvivesTwoKilledWorkers(t *testing.T) {
	in := filepath.Join(imagesDir, "coffee.png")
	want := referenceOutput(t, in, ".png", 30, 40, imagejob.Luma)

	clean := runImageJob(t, in, nil)
	sameBytes(t, "failure-free run", clean, want)

	killed := runImageJob(t, in, func(tc *testCluster, workers []*testenv.Process, jobID string) {
		waitFor(t, 30*time.Second, "a quarter of the tiles done", func() bool {
			j, _ := tc.Coordinator.Job(jobID)
			return j.Done >= 50
		})
		workers[0].Signal(syscall.SIGKILL)
		workers[1].Signal(syscall.SIGKILL)
		j, _ := tc.Coordinator.Job(jobID)
		t.Logf("killed 2 of 4 workers with %d of %d tiles done", j.Done, j.Tasks)
	})
	sameBytes(t, "run with 2 workers killed", killed, want)
}

// runImageJob converts in on a fresh cluster of 4 worker processes and
// returns the output. During the job, disrupt (if set) runs with the job's id.
func runImageJob(t *testing.T, in string, disrupt func(*testCluster, []*testenv.Process, string)) []byte {
	t.Helper()
	tc := startCluster(t, "")
	var workers []*testenv.Process
	for i := range 4 {
		id := "img-" + string(rune('a'+i))
		workers = append(workers, startWorker(t, tc.BrokerURL, id, "--task-delay", "20ms"))
	}
	waitFor(t, 10*time.Second, "4 nodes online", func() bool { return countOnline(tc) == 4 })

	var wg sync.WaitGroup
	if disrupt != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var jobID string
			waitFor(t, 10*time.Second, "job submitted", func() bool {
				jobs := tc.Coordinator.Jobs()
				if len(jobs) > 0 {
					jobID = jobs[0].ID
				}
				return jobID != ""
			})
			disrupt(tc, workers, jobID)
		}()
	}
	start := time.Now()
	out, sum := convertOnCluster(t, tc, in, ".png", twoHundredTiles)
	wg.Wait()

	st := tc.Coordinator.Stats()
	j, err := tc.Coordinator.Job(sum.JobID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tiles in %v on nodes %v: accepted %d, reassigned %d, duplicates dropped %d",
		sum.Tiles, time.Since(start).Round(time.Millisecond), sum.TilesByNode, st.ResultsAccepted, st.Reassignments, st.DuplicatesDropped)
	if sum.Tiles != 200 || j.Done != 200 {
		t.Errorf("tiles %d, done %d; want 200 and 200", sum.Tiles, j.Done)
	}
	if st.ResultsAccepted != 200 {
		t.Errorf("results accepted = %d, want 200: one per task", st.ResultsAccepted)
	}
	if disrupt != nil && st.Reassignments == 0 {
		t.Errorf("no task reassigned, but two workers were killed mid-job")
	}
	return out
}

func countOnline(tc *testCluster) int {
	n := 0
	for _, node := range tc.Coordinator.Nodes() {
		if node.State == api.NodeOnline {
			n++
		}
	}
	return n
}

func TestJobWaitsForNode(t *testing.T) {
	tc := startCluster(t, "")
	spec := api.JobSpec{Name: "waits", Tasks: []api.TaskSpec{{Kind: "noop", Payload: []byte("x")}, {Kind: "noop"}}}
	job, err := tc.Coordinator.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	// With no node, nothing can happen: the job stays queued.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	j, _ := tc.Coordinator.WaitJob(ctx, job.ID)
	cancel()
	if j.State != api.JobQueued || j.Queued != 2 {
		t.Fatalf("with no node: job %s with %d queued, want queued with 2", j.State, j.Queued)
	}

	startWorker(t, tc.BrokerURL, "late-1")
	took := waitFor(t, 20*time.Second, "job done", func() bool {
		j, _ := tc.Coordinator.Job(job.ID)
		return j.State == api.JobDone
	})
	t.Logf("job done %v after the node started", took)
	res, _ := tc.Coordinator.Results(job.ID)
	if string(res.Tasks[0].Output) != "x" || res.Tasks[0].Node != "late-1" {
		t.Errorf("task 0: output %q from %q, want \"x\" from late-1", res.Tasks[0].Output, res.Tasks[0].Node)
	}
}
