package coordinator_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/worker"
)

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func wantLine(t *testing.T, page, line string) {
	t.Helper()
	for _, l := range strings.Split(page, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("/metrics has no line %q", line)
}

func TestMetricsEndpoint(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)

	waiting, _ := c.Submit(noopJob(3))
	page := scrape(t, srv.URL)
	wantLine(t, page, `mqcluster_queue_depth{kind="noop"} 3`)
	wantLine(t, page, `mqcluster_tasks{state="queued"} 3`)
	wantLine(t, page, `mqcluster_jobs{state="queued"} 1`)

	startWorker(t, url, worker.Options{NodeID: "m1", Slots: 2})
	waitJob(t, c, waiting.ID, 10*time.Second)
	page = scrape(t, srv.URL)
	for _, line := range []string{
		`mqcluster_tasks{state="done"} 3`,
		`mqcluster_jobs{state="done"} 1`,
		`mqcluster_nodes{state="online"} 1`,
		`mqcluster_results_accepted_total 3`,
		`mqcluster_tasks_dispatched_total 3`,
		`mqcluster_task_result_seconds_count 3`,
		`mqcluster_task_dispatch_seconds_count 3`,
		`mqcluster_malformed_messages_total 0`,
	} {
		wantLine(t, page, line)
	}
	if !strings.Contains(page, "go_goroutines") {
		t.Error("/metrics has no Go runtime metrics")
	}
}
