package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// chaosTile cuts coffee.png (600x400) into 50 x 40 = 2,000 tiles. MQC_CHAOS_SCALE
// divides the tile sides for a longer soak run (2 gives 8,000 tiles).
func chaosTile() (int, int) {
	scale, _ := strconv.Atoi(os.Getenv("MQC_CHAOS_SCALE"))
	scale = max(scale, 1)
	return 12 / scale, 10 / scale
}

// chaosRun is the cluster of the chaos test: Mosquitto, a coordinator
// process with a store, and worker processes, each of which can be killed
// and started again.
type chaosRun struct {
	t        *testing.T
	mosq     *testenv.Mosquitto
	data     string
	apiAddr  string
	coord    *testenv.Process
	workers  map[string]*testenv.Process
	kills    int
	counters api.Stats // summed over the coordinator's runs
}

func (r *chaosRun) startCoordinator() {
	r.coord = testenv.StartProcess(r.t, "coordinator", "coordinator", "--broker", r.mosq.URL, "--api-addr", r.apiAddr,
		"--data", r.data, "--task-deadline", "10s", "--log-format", "text")
	testenv.WaitListening(r.t, r.apiAddr, 30*time.Second)
}

func (r *chaosRun) startWorker(id string) {
	r.workers[id] = startWorker(r.t, r.mosq.URL, id, "--slots", "2", "--task-delay", "15ms")
}

// killCoordinator adds its counters to the run's and kills it with SIGKILL.
func (r *chaosRun) killCoordinator(c *client.Client) {
	if st, err := c.Stats(context.Background()); err == nil {
		r.addCounters(st)
	}
	r.coord.Signal(syscall.SIGKILL)
	<-r.coord.Done()
}

func (r *chaosRun) addCounters(st api.Stats) {
	r.counters.ResultsAccepted += st.ResultsAccepted
	r.counters.Reassignments += st.Reassignments
	r.counters.DuplicatesDropped += st.DuplicatesDropped
	r.counters.ForeignResults += st.ForeignResults
}

// TestChaos runs a job of 2,000 tiles while worker processes are killed
// with SIGKILL and started again at random, Mosquitto restarts once, and
// the coordinator is killed with SIGKILL and started again once. Every
// tile must be accepted once and the image must equal a clean run's.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := &chaosRun{t: t, mosq: testenv.StartMosquitto(t), data: t.TempDir(), apiAddr: testenv.FreeAddr(t),
		workers: map[string]*testenv.Process{}}
	r.startCoordinator()
	ids := []string{"chaos-a", "chaos-b", "chaos-c", "chaos-d"}
	for _, id := range ids {
		r.startWorker(id)
	}
	c, _ := client.New("http://"+r.apiAddr, nil)

	tileW, tileH := chaosTile()
	in := filepath.Join(imagesDir, "coffee.png")
	out := filepath.Join(t.TempDir(), "chaos.png")
	input, err := imagejob.Prepare(in, out, imagejob.ConvertOptions{TileWidth: tileW, TileHeight: tileH})
	if err != nil {
		t.Fatal(err)
	}
	spec := api.JobSpec{Name: "chaos"}
	for _, tile := range input.Tiles {
		spec.Tasks = append(spec.Tasks, api.TaskSpec{Kind: imagejob.Kind, Payload: tile.Payload})
	}
	job, err := c.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	total := len(spec.Tasks)

	r.disrupt(ctx, c, job.ID, total, ids)
	results := waitResults(ctx, t, c, job.ID)
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.addCounters(st)

	outputs := make([][]byte, total)
	done := 0
	for i, res := range results.Tasks {
		outputs[i] = res.Output
		if res.State == api.TaskDone {
			done++
		}
	}
	gray, err := imagejob.Assemble(input.Pixels, input.Tiles, outputs)
	if err != nil {
		t.Fatal(err)
	}
	if err := imagejob.Save(out, gray.Image()); err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos: %d tasks, %d worker kills, 1 Mosquitto restart, 1 coordinator kill; %d reassignments, %d duplicates dropped, %d foreign results dropped, %v elapsed",
		total, r.kills, r.counters.Reassignments, r.counters.DuplicatesDropped, r.counters.ForeignResults, time.Since(start).Round(time.Millisecond))
	if done != total {
		t.Errorf("%d of %d tasks done", done, total)
	}
	if st.ResultsOverwritten != 0 {
		t.Errorf("%d results stored for tasks that already had one: a task was accepted twice", st.ResultsOverwritten)
	}
	sameBytes(t, "image after chaos", readFile(t, out), referenceOutput(t, in, ".png", tileW, tileH, imagejob.Luma))
}

// disrupt kills and restarts workers at random until the job ends, restarts
// Mosquitto at a quarter of the tiles and the coordinator at half.
func (r *chaosRun) disrupt(ctx context.Context, c *client.Client, jobID string, total int, ids []string) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	mosquittoDone, coordinatorDone := false, false
	for {
		select {
		case <-ctx.Done():
			r.t.Fatalf("chaos: job not done within 3 minutes")
		case <-time.After(time.Duration(150+rng.IntN(250)) * time.Millisecond):
		}
		j, err := c.Job(ctx, jobID)
		if err != nil {
			continue // the coordinator is restarting
		}
		if j.Ended() {
			return
		}
		switch {
		case !mosquittoDone && j.Done >= total/4:
			mosquittoDone = true
			r.mosq.Stop()
			r.mosq.Start()
			r.t.Logf("chaos: Mosquitto restarted at %d of %d tiles", j.Done, total)
		case !coordinatorDone && j.Done >= total/2:
			coordinatorDone = true
			r.killCoordinator(c)
			r.startCoordinator()
			r.t.Logf("chaos: coordinator killed and restarted at %d of %d tiles", j.Done, total)
		default:
			id := ids[rng.IntN(len(ids))]
			r.workers[id].Signal(syscall.SIGKILL)
			<-r.workers[id].Done()
			r.kills++
			r.startWorker(id)
		}
	}
}

// waitResults polls until the job ends, riding out coordinator restarts,
// and returns its results.
func waitResults(ctx context.Context, t *testing.T, c *client.Client, jobID string) api.Results {
	t.Helper()
	for {
		j, err := c.WaitJob(ctx, jobID, time.Second)
		if err == nil && j.Ended() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("job %s not done: %v", jobID, ctx.Err())
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	res, err := c.Results(ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != api.JobDone {
		t.Fatalf("job %s ended %s", jobID, res.State)
	}
	return res
}
