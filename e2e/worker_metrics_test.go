package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/jobs/builtin"
)

// A worker started with --metrics-addr serves its own counters: the tasks
// it answered, by kind and status, and the time its handlers ran.
func TestWorkerMetrics(t *testing.T) {
	tc := startCluster(t, "")
	w := startWorker(t, tc.BrokerURL, "m-w1", "--metrics-addr", "127.0.0.1:0")
	w.WaitOutput(t, "serving metrics", 20*time.Second)
	var url string
	for _, line := range w.Output() {
		if m := regexp.MustCompile(`url=(http://\S+/metrics)`).FindStringSubmatch(line); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no metrics URL in the worker's log: %q", w.Output())
	}
	waitFor(t, 20*time.Second, "worker online", func() bool { return countOnline(tc) == 1 })

	spec := api.JobSpec{Name: "noop", Tasks: builtin.Tasks(builtin.NoopKind, nil, 25)}
	job, err := tc.Coordinator.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "job done", func() bool {
		j, _ := tc.Coordinator.Job(job.ID)
		return j.State == api.JobDone
	})

	var body string
	waitFor(t, 5*time.Second, "25 tasks counted", func() bool {
		body = scrape(t, url)
		return strings.Contains(body, `mqcluster_worker_tasks_total{kind="noop",node="m-w1",status="ok"} 25`)
	})
	for _, want := range []string{
		`mqcluster_worker_task_seconds_count{kind="noop",node="m-w1"} 25`,
		`mqcluster_worker_tasks_held{node="m-w1"} 0`,
		`mqcluster_worker_slots{node="m-w1"} 1`,
		`mqcluster_worker_malformed_messages_total{node="m-w1"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
