package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// write is one queued change to one job's bucket.
type write struct {
	job    string
	apply  func(job *bolt.Bucket) error
	create bool         // whether to create the job's bucket if it is missing
	done   chan<- error // if set, receives the commit's error or nil
}

// enqueue queues w for the next commit. It never waits for the disk.
func (s *Store) enqueue(w write) {
	s.pending.Add(1)
	s.mu.Lock()
	s.queue = append(s.queue, w)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// PutAttempt queues an attempt's latest state.
func (s *Store) PutAttempt(jobID string, a AttemptRecord) {
	data := encodeAttempt(a)
	s.enqueue(write{job: jobID, apply: func(job *bolt.Bucket) error {
		b, err := job.CreateBucketIfNotExists([]byte("attempts"))
		if err != nil {
			return err
		}
		return b.Put(attemptKey(a.Index, a.Number), data)
	}})
}

// PutResult queues a task's end: its accepted output, or its failure.
func (s *Store) PutResult(jobID string, r ResultRecord) {
	data := []byte{0, byte(len(r.Node))}
	if r.Failed {
		data[0] = 1
	}
	data = append(data, r.Node...)
	data = append(data, r.Output...)
	s.enqueue(write{job: jobID, apply: func(job *bolt.Bucket) error {
		b, err := job.CreateBucketIfNotExists([]byte("results"))
		if err != nil {
			return err
		}
		key := indexKey(r.Index)
		if b.Get(key) != nil {
			// A task accepted twice is a bug; the chaos test checks this
			// counter stays 0 across coordinator restarts.
			if err := bumpCounter(job.Tx(), CounterResultsOverwritten); err != nil {
				return err
			}
		}
		return b.Put(key, data)
	}})
}

// PutJobRecord queues a new version of a job's record, such as its end.
func (s *Store) PutJobRecord(job JobRecord) {
	s.enqueue(write{job: job.ID, apply: func(b *bolt.Bucket) error {
		return putJSON(b, []byte("job"), job)
	}})
}

// DeleteJob queues the removal of a job and everything of it.
func (s *Store) DeleteJob(jobID string) {
	s.enqueue(write{job: jobID})
}

// Flush waits until every queued write is committed, and returns the error
// of the first commit that failed, if any.
func (s *Store) Flush() error {
	s.pending.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// commitLoop commits queued writes, everything queued at once, until Close.
func (s *Store) commitLoop() {
	defer close(s.closed)
	for {
		select {
		case <-s.wake:
		case <-s.done:
			for s.commitBatch() > 0 {
			}
			return
		}
		for s.commitBatch() > 0 {
		}
	}
}

// commitBatch commits up to MaxBatch queued writes in one transaction and
// returns how many it took.
func (s *Store) commitBatch() int {
	s.mu.Lock()
	n := min(len(s.queue), s.opts.MaxBatch)
	batch := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.mu.Unlock()
	if n == 0 {
		return 0
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		for _, w := range batch {
			if err := applyWrite(jobs, w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
		s.log.Error("store commit failed; these writes are lost", "writes", n, "error", err)
	}
	for _, w := range batch {
		if w.done != nil {
			w.done <- err
		}
		s.pending.Done()
	}
	return n
}

func applyWrite(jobs *bolt.Bucket, w write) error {
	key := []byte(w.job)
	if w.apply == nil {
		if jobs.Bucket(key) == nil {
			return nil
		}
		return jobs.DeleteBucket(key)
	}
	if w.create {
		job, err := jobs.CreateBucketIfNotExists(key)
		if err != nil {
			return err
		}
		return w.apply(job)
	}
	job := jobs.Bucket(key)
	if job == nil {
		return nil // the job was deleted after this write was queued
	}
	return w.apply(job)
}

// Load reads every job in the file, in job id order.
func (s *Store) Load() ([]LoadedJob, error) {
	var out []LoadedJob
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEachBucket(func(id []byte) error {
			job, err := loadJob(tx.Bucket(bucketJobs).Bucket(id))
			if err != nil {
				return fmt.Errorf("store: job %s: %w", id, err)
			}
			out = append(out, job)
			return nil
		})
	})
	return out, err
}

func loadJob(b *bolt.Bucket) (LoadedJob, error) {
	var j LoadedJob
	if err := json.Unmarshal(b.Get([]byte("job")), &j.Job); err != nil {
		return j, fmt.Errorf("job record: %w", err)
	}
	err := forEach(b, "tasks", func(k, v []byte) error {
		t, err := decodeTask(int(binary.BigEndian.Uint32(k)), v)
		j.Tasks = append(j.Tasks, t)
		return err
	})
	if err != nil {
		return j, err
	}
	err = forEach(b, "attempts", func(k, v []byte) error {
		var a AttemptRecord
		if len(k) != 6 {
			return fmt.Errorf("attempt key of %d bytes", len(k))
		}
		a.Index, a.Number = int(binary.BigEndian.Uint32(k)), binary.BigEndian.Uint16(k[4:])
		j.Attempts = append(j.Attempts, a)
		return decodeAttempt(v, &j.Attempts[len(j.Attempts)-1])
	})
	if err != nil {
		return j, err
	}
	err = forEach(b, "results", func(k, v []byte) error {
		if len(v) < 2 || len(v) < 2+int(v[1]) {
			return fmt.Errorf("result record of %d bytes is truncated", len(v))
		}
		n := int(v[1])
		j.Results = append(j.Results, ResultRecord{Index: int(binary.BigEndian.Uint32(k)), Failed: v[0] == 1,
			Node: string(v[2 : 2+n]), Output: append([]byte(nil), v[2+n:]...)})
		return nil
	})
	return j, err
}

func forEach(b *bolt.Bucket, name string, fn func(k, v []byte) error) error {
	sub := b.Bucket([]byte(name))
	if sub == nil {
		return nil
	}
	return sub.ForEach(fn)
}

// CounterResultsOverwritten counts results written for a task that already
// had one.
const CounterResultsOverwritten = "results_overwritten"

var bucketCounters = []byte("counters")

func bumpCounter(tx *bolt.Tx, name string) error {
	b, err := tx.CreateBucketIfNotExists(bucketCounters)
	if err != nil {
		return err
	}
	var n uint64
	if v := b.Get([]byte(name)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	return b.Put([]byte(name), binary.BigEndian.AppendUint64(nil, n+1))
}

// Counter returns a counter of the file, such as CounterResultsOverwritten.
func (s *Store) Counter(name string) (uint64, error) {
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketCounters); b != nil {
			if v := b.Get([]byte(name)); len(v) == 8 {
				n = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return n, err
}
