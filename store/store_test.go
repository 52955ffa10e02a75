package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "mqcluster.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

// reload opens the file at path again, as a restarted coordinator does,
// and returns its jobs.
func reload(t *testing.T, path string) []LoadedJob {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobs, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestStoreRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	created := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	job := JobRecord{ID: "job-1", Name: "gray", Meta: map[string]string{"input": "a.png"}, MaxAttempts: 3, Created: created}
	tasks := []TaskRecord{{Index: 0, ID: 7, Kind: "noop", Payload: []byte("a")}, {Index: 1, ID: 8, Kind: "image.gray", Payload: []byte{}}}
	if err := s.PutJob(job, tasks); err != nil {
		t.Fatal(err)
	}
	s.PutAttempt("job-1", AttemptRecord{Index: 1, Number: 1, Node: "n1", Started: created, State: "running"})
	s.PutAttempt("job-1", AttemptRecord{Index: 1, Number: 1, Node: "n1", Started: created, State: "lost", Error: "node n1 lost"})
	s.PutAttempt("job-1", AttemptRecord{Index: 1, Number: 2, Node: "n2", Started: created, State: "done"})
	s.PutResult("job-1", ResultRecord{Index: 1, Node: "n2", Output: []byte{1, 2}})
	s.PutResult("job-1", ResultRecord{Index: 0, Failed: true})
	job.Finished = created.Add(time.Second)
	s.PutJobRecord(job)
	s.PutAttempt("gone", AttemptRecord{Index: 0, Number: 1}) // a job that does not exist: ignored
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	jobs := reload(t, path)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs loaded, want 1", len(jobs))
	}
	j := jobs[0]
	if j.Job.Name != "gray" || j.Job.Meta["input"] != "a.png" || !j.Job.Finished.Equal(job.Finished) {
		t.Errorf("job record %+v", j.Job)
	}
	if len(j.Tasks) != 2 || j.Tasks[0].ID != 7 || string(j.Tasks[0].Payload) != "a" || j.Tasks[1].Kind != "image.gray" {
		t.Errorf("tasks %+v", j.Tasks)
	}
	if len(j.Attempts) != 2 || j.Attempts[0].State != "lost" || j.Attempts[0].Error != "node n1 lost" || j.Attempts[1].Node != "n2" {
		t.Errorf("attempts %+v", j.Attempts)
	}
	if len(j.Results) != 2 || !j.Results[0].Failed || j.Results[1].Node != "n2" || string(j.Results[1].Output) != "\x01\x02" {
		t.Errorf("results %+v", j.Results)
	}
}

func TestStoreDeleteJob(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	for _, id := range []string{"a", "b"} {
		if err := s.PutJob(JobRecord{ID: id}, []TaskRecord{{ID: 1, Kind: "noop"}}); err != nil {
			t.Fatal(err)
		}
	}
	s.DeleteJob("a")
	s.PutResult("a", ResultRecord{Index: 0}) // after the delete: ignored
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	jobs, _ := s.Load()
	if len(jobs) != 1 || jobs[0].Job.ID != "b" {
		t.Errorf("jobs after delete: %+v", jobs)
	}
}

func TestStoreFileLocked(t *testing.T) {
	s, path := openTemp(t)
	defer s.Close()
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

// BenchmarkStoreResults measures group-committed results per second, with
// and without fsync.
func BenchmarkStoreResults(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		name := "fsync"
		if noSync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			tasks := make([]TaskRecord, b.N)
			for i := range tasks {
				tasks[i] = TaskRecord{Index: i, ID: uint64(i), Kind: "noop"}
			}
			if err := s.PutJob(JobRecord{ID: "bench"}, tasks); err != nil {
				b.Fatal(err)
			}
			output := make([]byte, 64)
			b.ResetTimer()
			for i := range b.N {
				s.PutResult("bench", ResultRecord{Index: i, Node: "n", Output: output})
			}
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
		})
	}
}

func TestStoreCountsOverwrittenResults(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	if err := s.PutJob(JobRecord{ID: "j"}, []TaskRecord{{ID: 1, Kind: "noop"}}); err != nil {
		t.Fatal(err)
	}
	s.PutResult("j", ResultRecord{Index: 0, Output: []byte("a")})
	s.Flush()
	if n, _ := s.Counter(CounterResultsOverwritten); n != 0 {
		t.Fatalf("counter %d after one result, want 0", n)
	}
	s.PutResult("j", ResultRecord{Index: 0, Output: []byte("b")})
	s.Flush()
	if n, _ := s.Counter(CounterResultsOverwritten); n != 1 {
		t.Errorf("counter %d after a second result for one task, want 1", n)
	}
}

// Jobs submitted at once are all on disk when PutJob returns, and a PutJob
// after Close fails instead of waiting for ever.
func TestPutJobsTogether(t *testing.T) {
	s, path := openTemp(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			id := fmt.Sprintf("job-%02d", i)
			if err := s.PutJob(JobRecord{ID: id}, []TaskRecord{{ID: uint64(i + 1), Kind: "noop"}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(JobRecord{ID: "late"}, nil); err == nil {
		t.Error("PutJob after Close succeeded")
	}
	jobs := reload(t, path)
	if len(jobs) != 50 {
		t.Fatalf("%d jobs loaded, want 50", len(jobs))
	}
	for i, j := range jobs {
		if len(j.Tasks) != 1 || j.Tasks[0].ID != uint64(i+1) {
			t.Errorf("job %s has tasks %+v, want one with id %d", j.Job.ID, j.Tasks, i+1)
		}
	}
}
