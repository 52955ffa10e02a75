package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/jobs/builtin"
)

// listCluster is a cluster of two worker processes, list-a and list-b, that
// has run one job to the end and failed another.
type listCluster struct {
	*testCluster
	doneJob, failedJob string
}

func startListCluster(t *testing.T) listCluster {
	t.Helper()
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "list-a")
	startWorker(t, tc.BrokerURL, "list-b")
	waitFor(t, 10*time.Second, "2 nodes online", func() bool { return countOnline(tc) == 2 })

	done, err := tc.Coordinator.Submit(api.JobSpec{Name: "list-done", Tasks: []api.TaskSpec{
		{Kind: builtin.NoopKind, Payload: []byte("a")},
		{Kind: builtin.NoopKind, Payload: []byte("b")},
		{Kind: builtin.NoopKind, Payload: []byte("c")},
		{Kind: builtin.NoopKind, Payload: []byte("d")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The sleep kind takes a 4-byte payload, so each of the 3 attempts fails.
	failed, err := tc.Coordinator.Submit(api.JobSpec{Name: "list-failed", Tasks: []api.TaskSpec{
		{Kind: builtin.SleepKind, Payload: []byte{0, 0, 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for id, want := range map[string]string{done.ID: api.JobDone, failed.ID: api.JobFailed} {
		j, err := tc.Coordinator.WaitJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != want {
			t.Fatalf("job %s (%s) is %s, want %s", j.ID, j.Name, j.State, want)
		}
	}
	return listCluster{testCluster: tc, doneJob: done.ID, failedJob: failed.ID}
}

// runListCLI runs a command that must succeed and returns its stdout.
func runListCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("mqcluster %s: exit code %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	t.Logf("mqcluster %s:\n%s", strings.Join(args, " "), stdout)
	return stdout
}

// tableRows parses the output of a table command: a header line, then one
// line per row, with columns at least 2 spaces apart. It returns each row
// as a map from header to cell.
func tableRows(t *testing.T, out string, wantHeader []string) []map[string]string {
	t.Helper()
	sep := regexp.MustCompile(`\s{2,}`)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := sep.Split(strings.TrimSpace(lines[0]), -1)
	if !slices.Equal(header, wantHeader) {
		t.Fatalf("header %q, want %q", header, wantHeader)
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		cells := sep.Split(strings.TrimSpace(line), -1)
		if len(cells) != len(header) {
			t.Fatalf("row %q has %d cells, want %d", line, len(cells), len(header))
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = cells[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func cellInt(t *testing.T, column, cell string) int {
	t.Helper()
	n, err := strconv.Atoi(cell)
	if err != nil {
		t.Fatalf("%s %q is not a number", column, cell)
	}
	return n
}

func TestListCommands(t *testing.T) {
	lc := startListCluster(t)
	server := lc.APIURL

	t.Run("nodes", func(t *testing.T) {
		out := runListCLI(t, "nodes", "--server", server)
		rows := tableRows(t, out, []string{"ID", "STATE", "KINDS", "SLOTS", "IN FLIGHT", "DONE", "FAILED", "LAST SEEN"})
		if len(rows) != 2 {
			t.Fatalf("%d rows, want 2", len(rows))
		}
		done, failed := 0, 0
		for i, id := range []string{"list-a", "list-b"} {
			r := rows[i]
			if r["ID"] != id {
				t.Errorf("row %d: ID %q, want %q", i, r["ID"], id)
			}
			if r["STATE"] != api.NodeOnline {
				t.Errorf("%s: STATE %q, want online", id, r["STATE"])
			}
			if r["KINDS"] != "image.gray,noop,sleep" {
				t.Errorf("%s: KINDS %q, want image.gray,noop,sleep", id, r["KINDS"])
			}
			if r["SLOTS"] != "1" {
				t.Errorf("%s: SLOTS %q, want 1", id, r["SLOTS"])
			}
			if r["IN FLIGHT"] != "0" {
				t.Errorf("%s: IN FLIGHT %q, want 0", id, r["IN FLIGHT"])
			}
			if !strings.HasSuffix(r["LAST SEEN"], " ago") {
				t.Errorf("%s: LAST SEEN %q, want a duration and \"ago\"", id, r["LAST SEEN"])
			}
			done += cellInt(t, "DONE", r["DONE"])
			failed += cellInt(t, "FAILED", r["FAILED"])
		}
		if done != 4 || failed != 3 {
			t.Errorf("DONE adds up to %d and FAILED to %d over both nodes, want 4 and 3", done, failed)
		}
	})

	t.Run("nodes json", func(t *testing.T) {
		var nodes []api.Node
		if err := json.Unmarshal([]byte(runListCLI(t, "nodes", "--server", server, "--json")), &nodes); err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 2 {
			t.Fatalf("%d nodes, want 2", len(nodes))
		}
		for i, id := range []string{"list-a", "list-b"} {
			n := nodes[i]
			if n.ID != id {
				t.Errorf("node %d: %q, want %s", i, n.ID, id)
			}
			if n.State != api.NodeOnline {
				t.Errorf("%s: state %s, want online", n.ID, n.State)
			}
			if n.Slots != 1 {
				t.Errorf("%s: %d slots, want 1", n.ID, n.Slots)
			}
			if want := []string{"image.gray", "noop", "sleep"}; !slices.Equal(n.Kinds, want) {
				t.Errorf("%s: kinds %v, want %v", n.ID, n.Kinds, want)
			}
		}
		if done, failed := nodes[0].Done+nodes[1].Done, nodes[0].Failed+nodes[1].Failed; done != 4 || failed != 3 {
			t.Errorf("done adds up to %d and failed to %d, want 4 and 3", done, failed)
		}
	})

	t.Run("jobs", func(t *testing.T) {
		out := runListCLI(t, "jobs", "--server", server)
		rows := tableRows(t, out, []string{"ID", "NAME", "STATE", "DONE", "FAILED", "TASKS", "ELAPSED"})
		if len(rows) != 2 {
			t.Fatalf("%d rows, want 2", len(rows))
		}
		want := []map[string]string{
			{"ID": lc.doneJob, "NAME": "list-done", "STATE": "done", "DONE": "4", "FAILED": "0", "TASKS": "4"},
			{"ID": lc.failedJob, "NAME": "list-failed", "STATE": "failed", "DONE": "0", "FAILED": "1", "TASKS": "1"},
		}
		for i, w := range want {
			for col, v := range w {
				if rows[i][col] != v {
					t.Errorf("row %d: %s %q, want %q", i, col, rows[i][col], v)
				}
			}
			if d, err := time.ParseDuration(rows[i]["ELAPSED"]); err != nil || d < 0 {
				t.Errorf("row %d: ELAPSED %q is not a duration", i, rows[i]["ELAPSED"])
			}
		}
	})

	t.Run("jobs json", func(t *testing.T) {
		var jobs []api.Job
		if err := json.Unmarshal([]byte(runListCLI(t, "jobs", "--server", server, "--json")), &jobs); err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 2 {
			t.Fatalf("%d jobs, want 2", len(jobs))
		}
		if j := jobs[0]; j.ID != lc.doneJob || j.State != api.JobDone || j.Done != 4 {
			t.Errorf("job 0: %s %s with %d done, want %s done with 4", j.ID, j.State, j.Done, lc.doneJob)
		}
		if j := jobs[1]; j.ID != lc.failedJob || j.State != api.JobFailed || j.Failed != 1 {
			t.Errorf("job 1: %s %s with %d failed, want %s failed with 1", j.ID, j.State, j.Failed, lc.failedJob)
		}
	})

	t.Run("job done", func(t *testing.T) {
		out := runListCLI(t, "job", lc.doneJob, "--server", server)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if want := "job " + lc.doneJob + " (list-done): done"; lines[0] != want {
			t.Errorf("line 1 %q, want %q", lines[0], want)
		}
		if want := "tasks: 4 done, 0 failed, 0 running, 0 queued, 4 in all"; len(lines) < 2 || lines[1] != want {
			t.Errorf("output does not have line 2 %q:\n%s", want, out)
		}
		if len(lines) != 3 || !strings.HasPrefix(lines[2], "created ") {
			t.Errorf("output is not 3 lines ending with the created time:\n%s", out)
		}
	})

	// Every attempt line names the node it ran on, and its reason names the
	// same node and quotes the sleep handler's error.
	attemptLine := regexp.MustCompile(`^  attempt (\d+) on (\S+): failed after [0-9.]+[mµn]?s: node (\S+): sleep payload is 3 bytes, want 4`)

	t.Run("job failed", func(t *testing.T) {
		out := runListCLI(t, "job", lc.failedJob, "--server", server)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 7 {
			t.Fatalf("%d lines, want 7: 3 about the job, 1 about the task and 3 attempts:\n%s", len(lines), out)
		}
		if want := "job " + lc.failedJob + " (list-failed): failed"; lines[0] != want {
			t.Errorf("line 1 %q, want %q", lines[0], want)
		}
		if want := "tasks: 0 done, 1 failed, 0 running, 0 queued, 1 in all"; lines[1] != want {
			t.Errorf("line 2 %q, want %q", lines[1], want)
		}
		if want := "task 0 failed:"; lines[3] != want {
			t.Errorf("line 4 %q, want %q", lines[3], want)
		}
		for i, line := range lines[4:] {
			m := attemptLine.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("attempt line %q does not match %s", line, attemptLine)
				continue
			}
			if m[1] != strconv.Itoa(i+1) {
				t.Errorf("attempt line %q has number %s, want %d", line, m[1], i+1)
			}
			if m[2] != "list-a" && m[2] != "list-b" {
				t.Errorf("attempt line %q names node %q, want list-a or list-b", line, m[2])
			}
			if m[3] != m[2] {
				t.Errorf("attempt line %q: ran on %s but its reason names %s", line, m[2], m[3])
			}
		}
	})

	t.Run("job failed json", func(t *testing.T) {
		var j api.Job
		if err := json.Unmarshal([]byte(runListCLI(t, "job", lc.failedJob, "--server", server, "--json")), &j); err != nil {
			t.Fatal(err)
		}
		if j.ID != lc.failedJob || j.State != api.JobFailed || j.Failed != 1 {
			t.Errorf("job %s %s with %d failed, want %s failed with 1", j.ID, j.State, j.Failed, lc.failedJob)
		}
		if len(j.Failures) != 1 || j.Failures[0].Index != 0 {
			t.Fatalf("failures %+v, want task 0 only", j.Failures)
		}
		attempts := j.Failures[0].Attempts
		if len(attempts) != 3 {
			t.Fatalf("%d attempts, want 3", len(attempts))
		}
		for i, a := range attempts {
			if a.Number != i+1 || a.Outcome != "failed" {
				t.Errorf("attempt %d: number %d, outcome %q; want %d, failed", i, a.Number, a.Outcome, i+1)
			}
			if a.Node != "list-a" && a.Node != "list-b" {
				t.Errorf("attempt %d ran on %q, want list-a or list-b", a.Number, a.Node)
			}
			if want := "node " + a.Node + ": sleep payload is 3 bytes"; !strings.Contains(a.Error, want) {
				t.Errorf("attempt %d error %q does not contain %q", a.Number, a.Error, want)
			}
		}
	})

	t.Run("job not found", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "job", "nope", "--server", server)
		if code == 0 {
			t.Errorf("exit code 0, want non-zero")
		}
		if stdout != "" {
			t.Errorf("stdout %q, want nothing", stdout)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != 1 {
			t.Errorf("stderr has %d lines, want 1:\n%s", len(lines), stderr)
		}
		if !strings.Contains(stderr, `job "nope": not found`) {
			t.Errorf("stderr %q does not say that job \"nope\" is not found", stderr)
		}
	})
}
