package client_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

// startAPI starts the embedded broker and a coordinator, serves the
// coordinator's HTTP API on a loopback port until the test ends, and returns
// the coordinator, the broker URL and the API URL.
func startAPI(t *testing.T) (*coordinator.Coordinator, string, string) {
	t.Helper()
	brokerURL := testenv.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := coordinator.Start(ctx, mqtt.Dialer(brokerURL), coordinator.Options{
		Logger: testenv.Logger(t).With("component", "coordinator"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return c, brokerURL, srv.URL
}

// startNoopWorker runs an in-process worker with the noop kind until the
// test ends.
func startNoopWorker(t *testing.T, brokerURL string, opts worker.Options) {
	t.Helper()
	testenv.StartWorker(t, brokerURL, opts, map[string]worker.HandlerFunc{builtin.NoopKind: builtin.Noop})
}

func newClient(t *testing.T, server string) *client.Client {
	t.Helper()
	c, err := client.New(server, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientRoundTrip(t *testing.T) {
	coord, brokerURL, apiURL := startAPI(t)
	startNoopWorker(t, brokerURL, worker.Options{NodeID: "client-w1", Slots: 2})
	cl := newClient(t, apiURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The nodes call doubles as the wait for the worker to join.
	var nodes []api.Node
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		nodes, err = cl.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) == 1 && nodes[0].State == api.NodeOnline {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes after 10s: %+v, want client-w1 online", nodes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if nodes[0].ID != "client-w1" {
		t.Errorf("node %q, want client-w1", nodes[0].ID)
	}
	if nodes[0].Slots != 2 {
		t.Errorf("node slots %d, want 2", nodes[0].Slots)
	}
	if want := []string{"noop"}; !slices.Equal(nodes[0].Kinds, want) {
		t.Errorf("node kinds %v, want %v", nodes[0].Kinds, want)
	}

	payloads := [][]byte{[]byte("first"), {0x00, 0xff, 0x10}, nil}
	spec := api.JobSpec{Name: "client-roundtrip", Meta: map[string]string{"owner": "tests"}}
	for _, p := range payloads {
		spec.Tasks = append(spec.Tasks, api.TaskSpec{Kind: builtin.NoopKind, Payload: p})
	}
	job, err := cl.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if job.ID == "" {
		t.Fatalf("submitted job has no id: %+v", job)
	}
	if job.State != api.JobQueued || job.Tasks != 3 {
		t.Errorf("submitted job %s with %d tasks, want queued with 3", job.State, job.Tasks)
	}
	if job.Name != "client-roundtrip" {
		t.Errorf("submitted job name %q, want client-roundtrip", job.Name)
	}
	if job.Meta["owner"] != "tests" {
		t.Errorf("submitted job meta %v, want owner=tests", job.Meta)
	}

	done, err := cl.WaitJob(ctx, job.ID, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != api.JobDone || done.Done != 3 || done.Finished == nil {
		t.Fatalf("job after WaitJob: %s with %d done, finished %v; want done with 3", done.State, done.Done, done.Finished)
	}

	got, err := cl.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != job.ID || got.State != api.JobDone || got.Done != 3 {
		t.Errorf("Job: %s %s with %d done, want %s done with 3", got.ID, got.State, got.Done, job.ID)
	}

	jobs, err := cl.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("Jobs: %d jobs, want 1: %+v", len(jobs), jobs)
	}
	if jobs[0].ID != job.ID || jobs[0].State != api.JobDone {
		t.Errorf("Jobs: %s %s, want %s done", jobs[0].ID, jobs[0].State, job.ID)
	}

	res, err := cl.Results(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != job.ID || res.State != api.JobDone || len(res.Tasks) != len(payloads) {
		t.Fatalf("Results: %s %s with %d tasks, want %s done with %d", res.ID, res.State, len(res.Tasks), job.ID, len(payloads))
	}
	for i, r := range res.Tasks {
		if r.Index != i {
			t.Errorf("result %d has index %d", i, r.Index)
		}
		if r.State != api.TaskDone {
			t.Errorf("task %d is %s, want done", i, r.State)
		}
		if r.Node != "client-w1" {
			t.Errorf("task %d ran on %q, want client-w1", i, r.Node)
		}
		if !bytes.Equal(r.Output, payloads[i]) {
			t.Errorf("task %d output %q, want %q", i, r.Output, payloads[i])
		}
	}

	st, err := cl.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ResultsAccepted != 3 {
		t.Errorf("results accepted %d, want 3", st.ResultsAccepted)
	}
	if want := coord.Stats(); st != want {
		t.Errorf("Stats over HTTP %+v, coordinator's own %+v", st, want)
	}
}

func TestClientNotFound(t *testing.T) {
	_, _, apiURL := startAPI(t)
	cl := newClient(t, apiURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ids := []struct{ name, id string }{
		{"plain id", "nope"},
		{"id to escape", "a/b?c"}, // sent as one path segment
	}
	for _, tc := range ids {
		id := tc.id
		calls := []struct {
			name string
			call func() error
		}{
			{"Job", func() error { _, err := cl.Job(ctx, id); return err }},
			{"WaitJob", func() error { _, err := cl.WaitJob(ctx, id, 5*time.Second); return err }},
			{"Results", func() error { _, err := cl.Results(ctx, id); return err }},
		}
		for _, c := range calls {
			t.Run(c.name+" "+tc.name, func(t *testing.T) {
				err := c.call()
				if !client.IsNotFound(err) {
					t.Fatalf("error %v: IsNotFound is false", err)
				}
				var se *client.StatusError
				if !errors.As(err, &se) || se.Code != http.StatusNotFound {
					t.Errorf("error %v is not a StatusError with code 404", err)
				}
				// The server's message: job "nope": not found.
				if want := `job "` + id + `": not found`; !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not carry the server's message %q", err, want)
				}
			})
		}
	}
}

func TestClientBadRequest(t *testing.T) {
	_, _, apiURL := startAPI(t)
	cl := newClient(t, apiURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := cl.Submit(ctx, api.JobSpec{Name: "empty"})
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("Submit with no task: error %v, want a StatusError with code 400", err)
	}
	if client.IsNotFound(err) {
		t.Errorf("IsNotFound is true for a 400")
	}
	if !strings.Contains(se.Message, "tasks") {
		t.Errorf("message %q does not name the field tasks", se.Message)
	}

	// The server accepts waits up to 5 minutes.
	job, err := cl.Submit(ctx, api.JobSpec{Tasks: []api.TaskSpec{{Kind: builtin.NoopKind}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.WaitJob(ctx, job.ID, 6*time.Minute)
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Message, "wait") {
		t.Errorf("WaitJob for 6m: error %v, want a 400 naming wait", err)
	}
}

// With no node to run the job, WaitJob returns the queued job once the
// wait runs out.
func TestClientWaitJobDeadline(t *testing.T) {
	_, _, apiURL := startAPI(t)
	cl := newClient(t, apiURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job, err := cl.Submit(ctx, api.JobSpec{Tasks: []api.TaskSpec{{Kind: builtin.NoopKind}}})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	got, err := cl.WaitJob(ctx, job.ID, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("WaitJob for 200ms returned after %v", took)
	}
	if got.State != api.JobQueued || got.Ended() {
		t.Errorf("job %s after the wait, want queued", got.State)
	}

	// A context that ends first ends the call.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	_, err = cl.WaitJob(short, job.ID, 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitJob past its context's deadline: error %v, want context.DeadlineExceeded", err)
	}
}

func TestClientNewServerURL(t *testing.T) {
	tests := []struct {
		name, server string
		valid        bool
	}{
		{"ftp scheme", "ftp://x", false},
		{"no host", "http://", false},
		{"bad port", "127.0.0.1:http", false},
		{"port without host", "http://:8080/", false},
		{"query", "http://127.0.0.1:8080/?x=1", false},
		{"bare host port", "127.0.0.1:8080", true},
		{"http URL", "http://127.0.0.1:8080/", true},
		{"https URL", "https://coordinator.example:8443", true},
		{"empty", "", true}, // client.DefaultServer
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(tt.server, nil)
			if tt.valid && err != nil {
				t.Errorf("New(%q): %v", tt.server, err)
			}
			if !tt.valid {
				if err == nil {
					t.Fatalf("New(%q) succeeded, want an error", tt.server)
				}
				if !strings.Contains(err.Error(), "invalid server URL") {
					t.Errorf("New(%q): error %q does not say the server URL is invalid", tt.server, err)
				}
			}
		})
	}
}

// A bare host:port reaches the server over http.
func TestClientBareHostPort(t *testing.T) {
	_, _, apiURL := startAPI(t)
	cl := newClient(t, strings.TrimPrefix(apiURL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Stats(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestClientServerDown(t *testing.T) {
	// A loopback port that was free a moment ago and has no listener now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + ln.Addr().String()
	ln.Close()

	cl := newClient(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cl.Nodes(ctx)
	if err == nil {
		t.Fatalf("Nodes from %s, where nothing listens, succeeded", server)
	}
	if want := server + "/api/v1/nodes"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the URL %s", err, want)
	}
	if client.IsNotFound(err) {
		t.Errorf("IsNotFound is true for a connection error")
	}
	t.Logf("error: %v", err)
}
