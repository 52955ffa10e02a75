package coordinator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/worker"
)

// serveHTTPAPI serves c's HTTP API on a loopback port until the test ends
// and returns its base URL.
func serveHTTPAPI(t *testing.T, c *coordinator.Coordinator) string {
	t.Helper()
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// apiCall sends one request to the API and returns the status and body.
// A non-empty body is sent as application/json.
func apiCall(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	return resp.StatusCode, out
}

// apiDecode sends a request, checks the status and decodes the JSON body
// into out.
func apiDecode(t *testing.T, method, url, body string, wantStatus int, out any) {
	t.Helper()
	status, b := apiCall(t, method, url, body)
	if status != wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, url, status, wantStatus, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: body is not the expected JSON: %v\n%s", method, url, err, b)
	}
}

// apiError sends a request that must fail with wantStatus and a JSON error
// body, and returns the error message.
func apiError(t *testing.T, method, url, body string, wantStatus int) string {
	t.Helper()
	var e api.Error
	apiDecode(t, method, url, body, wantStatus, &e)
	if e.Error == "" {
		t.Errorf("%s %s: status %d with an empty error message", method, url, wantStatus)
	}
	return e.Error
}

func TestHTTPSubmitRejectsInvalidSpec(t *testing.T) {
	c := startCoordinator(t, testenv.Broker(t), coordinator.Options{})
	base := serveHTTPAPI(t, c)

	tests := []struct {
		name, body, want string
	}{
		{"truncated JSON", `{"tasks": [`, "invalid job spec JSON"},
		{"not JSON", `tasks: noop`, "invalid job spec JSON"},
		{"wrong type", `{"tasks": "noop"}`, "invalid job spec JSON"},
		{"payload not base64", `{"tasks": [{"kind": "noop", "payload": "!!"}]}`, "invalid job spec JSON"},
		{"no tasks field", `{"name": "empty"}`, "tasks"},
		{"empty tasks", `{"tasks": []}`, "tasks"},
		{"bad second kind", `{"tasks": [{"kind": "noop"}, {"kind": "Bad Kind"}]}`, "tasks[1].kind"},
		{"empty kind", `{"tasks": [{"kind": ""}]}`, "tasks[0].kind"},
		{"negative max_attempts", `{"max_attempts": -1, "tasks": [{"kind": "noop"}]}`, "max_attempts"},
		{"max_attempts over 100", `{"max_attempts": 101, "tasks": [{"kind": "noop"}]}`, "max_attempts"},
		{"misspelt field", `{"max_attempt": 5, "tasks": [{"kind": "noop"}]}`, "max_attempt"},
		{"data after the spec", `{"tasks": [{"kind": "noop"}]} garbage`, "data after the job spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := apiError(t, http.MethodPost, base+"/api/v1/jobs", tt.body, http.StatusBadRequest)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name %q", msg, tt.want)
			}
		})
	}

	var jobs []api.Job
	apiDecode(t, http.MethodGet, base+"/api/v1/jobs", "", http.StatusOK, &jobs)
	if len(jobs) != 0 {
		t.Errorf("%d jobs after only invalid submissions, want none: %+v", len(jobs), jobs)
	}
}

func TestHTTPUnknownJob(t *testing.T) {
	c := startCoordinator(t, testenv.Broker(t), coordinator.Options{})
	base := serveHTTPAPI(t, c)

	tests := []struct{ name, path string }{
		{"job", "/api/v1/jobs/unknown"},
		{"results", "/api/v1/jobs/unknown/results"},
		{"job with wait", "/api/v1/jobs/unknown?wait=10s"}, // no waiting for a job that does not exist
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			msg := apiError(t, http.MethodGet, base+tt.path, "", http.StatusNotFound)
			if !strings.Contains(msg, `"unknown"`) || !strings.Contains(msg, "not found") {
				t.Errorf("error %q does not say that job \"unknown\" is not found", msg)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("404 took %v", took)
			}
		})
	}
}

func TestHTTPUnknownEndpoint(t *testing.T) {
	c := startCoordinator(t, testenv.Broker(t), coordinator.Options{})
	base := serveHTTPAPI(t, c)
	msg := apiError(t, http.MethodGet, base+"/api/v1/unknown", "", http.StatusNotFound)
	if !strings.Contains(msg, "no API endpoint GET /api/v1/unknown") {
		t.Errorf("error %q does not name the endpoint", msg)
	}
}

func TestHTTPWaitInvalid(t *testing.T) {
	c := startCoordinator(t, testenv.Broker(t), coordinator.Options{})
	base := serveHTTPAPI(t, c)
	job, err := c.Submit(noopJob(1))
	if err != nil {
		t.Fatal(err)
	}

	for _, wait := range []string{"banana", "10", "-1s", "5m1s"} {
		t.Run(wait, func(t *testing.T) {
			msg := apiError(t, http.MethodGet, base+"/api/v1/jobs/"+job.ID+"?wait="+wait, "", http.StatusBadRequest)
			if !strings.Contains(msg, "wait") || !strings.Contains(msg, wait) {
				t.Errorf("error %q does not name the parameter wait and the value %q", msg, wait)
			}
		})
	}
}

// With no node to run it, a job is still queued when the wait runs out.
func TestHTTPWaitEndsAtDeadline(t *testing.T) {
	c := startCoordinator(t, testenv.Broker(t), coordinator.Options{})
	base := serveHTTPAPI(t, c)
	job, err := c.Submit(noopJob(2))
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var got api.Job
	apiDecode(t, http.MethodGet, base+"/api/v1/jobs/"+job.ID+"?wait=300ms", "", http.StatusOK, &got)
	took := time.Since(start)
	if took < 300*time.Millisecond {
		t.Errorf("wait=300ms returned after %v", took)
	}
	if got.ID != job.ID || got.State != api.JobQueued || got.Queued != 2 {
		t.Errorf("job %s %s with %d queued, want %s queued with 2", got.ID, got.State, got.Queued, job.ID)
	}
	if got.Finished != nil {
		t.Errorf("unfinished job has finished time %v", got.Finished)
	}
}

func TestHTTPJobRoundTrip(t *testing.T) {
	url := testenv.Broker(t)
	c := startCoordinator(t, url, coordinator.Options{})
	startWorker(t, url, worker.Options{NodeID: "http-w1", Slots: 2})
	waitNodes(t, c, 1)
	base := serveHTTPAPI(t, c)

	// Payloads travel as base64: "hello", the bytes 00 ff, empty, and none.
	spec := `{
		"name": "http-roundtrip",
		"meta": {"owner": "tests"},
		"tasks": [
			{"kind": "noop", "payload": "aGVsbG8="},
			{"kind": "noop", "payload": "AP8="},
			{"kind": "noop", "payload": ""},
			{"kind": "noop"}
		]
	}`
	wantOutputs := [][]byte{[]byte("hello"), {0x00, 0xff}, nil, nil}

	var submitted api.Job
	apiDecode(t, http.MethodPost, base+"/api/v1/jobs", spec, http.StatusCreated, &submitted)
	if !strings.HasPrefix(submitted.ID, "job-") {
		t.Errorf("job id %q does not start with job-", submitted.ID)
	}
	if submitted.State != api.JobQueued {
		t.Errorf("submitted job is %s, want queued", submitted.State)
	}
	if submitted.Tasks != 4 || submitted.Queued != 4 {
		t.Errorf("submitted job has %d tasks, %d queued; want 4 and 4", submitted.Tasks, submitted.Queued)
	}
	if submitted.Name != "http-roundtrip" {
		t.Errorf("submitted job name %q, want http-roundtrip", submitted.Name)
	}
	if submitted.Meta["owner"] != "tests" {
		t.Errorf("submitted job meta %v, want owner=tests", submitted.Meta)
	}
	if submitted.Created.IsZero() {
		t.Errorf("submitted job has no created time")
	}

	var finished api.Job
	apiDecode(t, http.MethodGet, base+"/api/v1/jobs/"+submitted.ID+"?wait=10s", "", http.StatusOK, &finished)
	if finished.State != api.JobDone || finished.Done != 4 || finished.Failed != 0 {
		t.Fatalf("job after wait: %s with %d done, %d failed; want done with 4 and 0", finished.State, finished.Done, finished.Failed)
	}
	if finished.Finished == nil || finished.Finished.Before(finished.Created) {
		t.Errorf("finished time %v, want one at or after created %v", finished.Finished, finished.Created)
	}
	if len(finished.Failures) != 0 {
		t.Errorf("done job lists failures: %+v", finished.Failures)
	}

	var res api.Results
	apiDecode(t, http.MethodGet, base+"/api/v1/jobs/"+submitted.ID+"/results", "", http.StatusOK, &res)
	if res.ID != submitted.ID {
		t.Errorf("results of job %s, want %s", res.ID, submitted.ID)
	}
	if res.State != api.JobDone {
		t.Errorf("results state %s, want done", res.State)
	}
	if len(res.Tasks) != len(wantOutputs) {
		t.Fatalf("%d task results, want %d", len(res.Tasks), len(wantOutputs))
	}
	for i, r := range res.Tasks {
		if r.Index != i {
			t.Errorf("result %d has index %d", i, r.Index)
		}
		if r.State != api.TaskDone || r.Error != "" {
			t.Errorf("task %d: %s with error %q, want done with no error", i, r.State, r.Error)
		}
		if r.Node != "http-w1" {
			t.Errorf("task %d ran on %q, want http-w1", i, r.Node)
		}
		if !bytes.Equal(r.Output, wantOutputs[i]) {
			t.Errorf("task %d output %q, want %q", i, r.Output, wantOutputs[i])
		}
	}

	var jobs []api.Job
	apiDecode(t, http.MethodGet, base+"/api/v1/jobs", "", http.StatusOK, &jobs)
	if len(jobs) != 1 {
		t.Fatalf("job list has %d jobs, want 1: %+v", len(jobs), jobs)
	}
	if jobs[0].ID != submitted.ID {
		t.Errorf("listed job %s, want %s", jobs[0].ID, submitted.ID)
	}
	if jobs[0].State != api.JobDone || jobs[0].Done != 4 {
		t.Errorf("listed job %s with %d done, want done with 4", jobs[0].State, jobs[0].Done)
	}

	var nodes []api.Node
	apiDecode(t, http.MethodGet, base+"/api/v1/nodes", "", http.StatusOK, &nodes)
	if len(nodes) != 1 {
		t.Fatalf("%d nodes, want 1: %+v", len(nodes), nodes)
	}
	n := nodes[0]
	if n.ID != "http-w1" || n.State != api.NodeOnline {
		t.Errorf("node %q %s, want http-w1 online", n.ID, n.State)
	}
	if n.Slots != 2 {
		t.Errorf("node slots %d, want 2", n.Slots)
	}
	if want := []string{"noop", "sleep"}; !slices.Equal(n.Kinds, want) {
		t.Errorf("node kinds %v, want %v", n.Kinds, want)
	}
	if n.Done != 4 {
		t.Errorf("node done %d, want 4", n.Done)
	}
	if n.InFlight != 0 {
		t.Errorf("node in flight %d, want 0", n.InFlight)
	}
	if n.LastSeen.IsZero() {
		t.Errorf("node has no last-seen time")
	}

	var st api.Stats
	apiDecode(t, http.MethodGet, base+"/api/v1/stats", "", http.StatusOK, &st)
	if st.ResultsAccepted != 4 {
		t.Errorf("results accepted %d, want 4", st.ResultsAccepted)
	}
	if st.TasksDispatched != 4 {
		t.Errorf("tasks dispatched %d, want 4", st.TasksDispatched)
	}
}

func TestHTTPUploadLimit(t *testing.T) {
	c := startCoordinator(t, testenv.Broker(t), coordinator.Options{MaxUpload: 1024})
	base := serveHTTPAPI(t, c)
	body := `{"tasks": [{"kind": "noop", "payload": "` + strings.Repeat("QUFB", 600) + `"}]}`
	msg := apiError(t, http.MethodPost, base+"/api/v1/jobs", body, http.StatusRequestEntityTooLarge)
	if !strings.Contains(msg, "limit of 1024 bytes") || !strings.Contains(msg, "--max-upload") {
		t.Errorf("error %q does not name the limit and its flag", msg)
	}
	if jobs := c.Jobs(); len(jobs) != 0 {
		t.Errorf("%d jobs after an upload over the limit, want 0", len(jobs))
	}
}
