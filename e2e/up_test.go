package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// The multi-machine setup of the README, on one machine: `mqcluster up` with
// an in-process worker, a `mqcluster worker` process joining it, and the
// image job submitted with --server.
func TestUpWorkerAndServerCommands(t *testing.T) {
	brokerAddr, apiAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	up := testenv.StartProcess(t, "up", "up", "--workers", "1", "--broker-addr", brokerAddr, "--data", t.TempDir(),
		"--api-addr", apiAddr, "--log-format", "text")
	testenv.WaitListening(t, apiAddr, 20*time.Second)
	startWorker(t, "tcp://"+brokerAddr, "joiner")
	apiClient := waitForNodes(t, "http://"+apiAddr, "local-1", "joiner")

	in := filepath.Join(imagesDir, "camera.png")
	out := filepath.Join(t.TempDir(), "camera-gray.png")
	code, stdout, stderr := runCLI(t, "image", "grayscale", "--server", "http://"+apiAddr, "--tile", "64x32", in, out)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "128 tiles on 2 nodes") {
		t.Errorf("stdout %q, want 128 tiles on 2 nodes", stdout)
	}
	sameBytes(t, out, readFile(t, out), referenceOutput(t, in, ".png", 64, 32, imagejob.Luma))

	jobs, err := apiClient.Jobs(context.Background())
	if err != nil || len(jobs) != 1 || jobs[0].State != "done" {
		t.Errorf("jobs %+v (%v), want one done", jobs, err)
	}
	up.Signal(syscall.SIGTERM)
	select {
	case <-up.Done():
		if code := up.Cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("up exit code %d after SIGTERM, want 0", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("up still running 15s after SIGTERM")
	}
}

// The coordinator as its own process, on Mosquitto.
func TestCoordinatorCommandOnMosquitto(t *testing.T) {
	m := testenv.StartMosquitto(t)
	apiAddr := testenv.FreeAddr(t)
	testenv.StartProcess(t, "coordinator", "coordinator", "--broker", m.URL, "--api-addr", apiAddr, "--data", t.TempDir(),
		"--log-format", "text")
	testenv.WaitListening(t, apiAddr, 20*time.Second)
	startWorker(t, m.URL, "m-1")
	startWorker(t, m.URL, "m-2")
	waitForNodes(t, "http://"+apiAddr, "m-1", "m-2")

	in := filepath.Join(imagesDir, "chelsea.png")
	out := filepath.Join(t.TempDir(), "chelsea-gray.jpg")
	code, _, stderr := runCLI(t, "image", "grayscale", "--server", "http://"+apiAddr, "--method", "average", in, out)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	sameBytes(t, out, readFile(t, out), referenceOutput(t, in, ".jpg", 128, 128, imagejob.Average))
}

// waitForNodes polls the API until every id is online, and returns the client.
func waitForNodes(t *testing.T, server string, ids ...string) *client.Client {
	t.Helper()
	c, err := client.New(server, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "nodes "+strings.Join(ids, ", ")+" online", func() bool {
		nodes, err := c.Nodes(context.Background())
		if err != nil {
			return false
		}
		online := map[string]bool{}
		for _, n := range nodes {
			online[n.ID] = n.State == api.NodeOnline
		}
		for _, id := range ids {
			if !online[id] {
				return false
			}
		}
		return true
	})
	return c
}

// A second coordinator on the same cluster stops with a clear error, and the
// first one goes on undisturbed.
func TestSecondCoordinatorRefused(t *testing.T) {
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "solo")
	waitFor(t, 10*time.Second, "node online", func() bool { return tc.nodeState("solo") == api.NodeOnline })

	code, _, stderr := runCLI(t, "coordinator", "--broker", tc.BrokerURL, "--api-addr", testenv.FreeAddr(t), "--data", "none")
	if code == 0 || !strings.Contains(stderr, "another coordinator of this cluster is online") {
		t.Fatalf("second coordinator: exit %d, stderr %q; want a non-zero exit and the reason", code, stderr)
	}
	job, err := tc.Coordinator.Submit(sleepJob(3, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "job done on the first coordinator", func() bool {
		j, _ := tc.Coordinator.Job(job.ID)
		return j.State == api.JobDone
	})
	if n, _ := tc.node("solo"); n.State != api.NodeOnline {
		t.Errorf("node %s after the second coordinator tried to start", describe(n))
	}
}

// The image client rides out a coordinator killed with SIGKILL and started
// again on its store: the job resumes and the output is written.
func TestGrayscaleSurvivesCoordinatorRestart(t *testing.T) {
	brokerAddr, apiAddr, data := testenv.FreeAddr(t), testenv.FreeAddr(t), t.TempDir()
	upArgs := []string{"up", "--broker-addr", brokerAddr, "--api-addr", apiAddr, "--data", data, "--log-format", "text"}
	up := testenv.StartProcess(t, "up", upArgs...)
	testenv.WaitListening(t, apiAddr, 20*time.Second)
	startWorker(t, "tcp://"+brokerAddr, "r-1", "--task-delay", "20ms")
	startWorker(t, "tcp://"+brokerAddr, "r-2", "--task-delay", "20ms")
	apiClient := waitForNodes(t, "http://"+apiAddr, "r-1", "r-2")

	in := filepath.Join(imagesDir, "coffee.png")
	out := filepath.Join(t.TempDir(), "coffee-gray.png")
	convert := testenv.StartProcess(t, "convert", "image", "grayscale", "--server", "http://"+apiAddr, "--tile", "30x40", in, out)
	waitFor(t, 20*time.Second, "a third of the tiles done", func() bool {
		jobs, err := apiClient.Jobs(context.Background())
		return err == nil && len(jobs) == 1 && jobs[0].Done >= 70
	})
	up.Signal(syscall.SIGKILL)
	<-up.Done()
	testenv.StartProcess(t, "up-again", upArgs...)

	select {
	case <-convert.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("the image client still runs 60s after the coordinator restarted")
	}
	if code := convert.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("image grayscale exit code %d across the restart, want 0", code)
	}
	sameBytes(t, out, readFile(t, out), referenceOutput(t, in, ".png", 30, 40, imagejob.Luma))
}
