// Package store keeps the coordinator's jobs, task attempts and accepted
// results in a bbolt file, so that a coordinator killed mid-job resumes
// where it stopped.
//
// Layout: a root bucket "jobs" holds one bucket per job id, and each job
// bucket holds the key "job" (the JSON JobRecord) and the buckets "tasks",
// "attempts" and "results", keyed by big-endian task index (and attempt
// number for attempts).
//
// Jobs are written synchronously, so that Submit returns only once a job is
// durable. Attempts and results are written by a background goroutine that
// puts everything queued into one transaction (group commit), so that one
// fsync serves many results. A result accepted less than one commit before
// a crash is lost, and its task runs again after the restart.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configure a store. Zero values take the defaults.
type Options struct {
	// NoSync skips the fsync of each commit: faster, but a power cut can
	// lose the last commits or the whole file.
	NoSync bool
	// MaxBatch is the most queued writes one commit takes; default 4096.
	MaxBatch int
	Logger   *slog.Logger // default slog.Default()
}

// Store is an open data file.
type Store struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	queue   []write
	pending sync.WaitGroup // writes queued and not yet committed
	wake    chan struct{}
	done    chan struct{}
	closed  chan struct{}
	err     error // the first failed commit
}

// JobRecord is a job's description.
type JobRecord struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	MaxAttempts int               `json:"max_attempts"`
	Created     time.Time         `json:"created"`
	Finished    time.Time         `json:"finished,omitzero"`
	Cancelled   bool              `json:"cancelled,omitempty"`
}

// TaskRecord is one task of a job.
type TaskRecord struct {
	Index   int
	ID      uint64
	Kind    string
	Payload []byte
}

// AttemptRecord is one run of a task, as last written.
type AttemptRecord struct {
	Index    int       `json:"-"`
	Number   uint16    `json:"-"`
	Node     string    `json:"node"`
	Started  time.Time `json:"started"`
	Deadline time.Time `json:"deadline"`
	Ended    time.Time `json:"ended,omitzero"`
	State    string    `json:"state"`
	Error    string    `json:"error,omitempty"`
}

// ResultRecord is the end of a task: done with its output, or failed.
type ResultRecord struct {
	Index  int
	Failed bool
	Node   string
	Output []byte
}

// LoadedJob is a job as read back from the file.
type LoadedJob struct {
	Job      JobRecord
	Tasks    []TaskRecord
	Attempts []AttemptRecord // ordered by task index, then attempt number
	Results  []ResultRecord
}

var bucketJobs = []byte("jobs")

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("data file is in use by another process")

// Open opens or creates the data file at path, creating its directory.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create the directory of %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: time.Second, NoSync: opts.NoSync,
		// The free page list is rebuilt on open rather than written at
		// every commit, which keeps each commit short.
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("store: %s: %w (is another coordinator running with this --data?)", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketJobs)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts, log: opts.Logger, wake: make(chan struct{}, 1),
		done: make(chan struct{}), closed: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Close commits what is queued and closes the file.
func (s *Store) Close() error {
	close(s.done)
	<-s.closed
	return s.db.Close()
}

// PutJob writes a new job and its tasks in the next commit, and returns
// once they are on disk.
func (s *Store) PutJob(job JobRecord, tasks []TaskRecord) error {
	return s.QueueJob(job, tasks)()
}

// QueueJob queues a new job and its tasks for the next commit, and returns
// a function that waits until they are on disk. Jobs submitted together
// share that commit, and its fsync, with each other and with the results
// queued meanwhile. Writes for the job queued after QueueJob returns reach
// the disk in the same commit or a later one.
func (s *Store) QueueJob(job JobRecord, tasks []TaskRecord) (wait func() error) {
	done := make(chan error, 1)
	s.enqueue(write{job: job.ID, create: true, done: done, apply: func(b *bolt.Bucket) error {
		if err := putJSON(b, []byte("job"), job); err != nil {
			return err
		}
		tb, err := b.CreateBucketIfNotExists([]byte("tasks"))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if err := tb.Put(indexKey(t.Index), encodeTask(t)); err != nil {
				return err
			}
		}
		return nil
	}})
	return func() error {
		var err error
		select {
		case err = <-done:
		case <-s.closed:
			select {
			case err = <-done: // committed by the last commits before Close
			default:
				err = errors.New("the store is closed")
			}
		}
		if err != nil {
			return fmt.Errorf("store: job %s: %w", job.ID, err)
		}
		return nil
	}
}

func indexKey(index int) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(index))
}

func attemptKey(index int, number uint16) []byte {
	return binary.BigEndian.AppendUint16(indexKey(index), number)
}

func encodeTask(t TaskRecord) []byte {
	b := binary.BigEndian.AppendUint64(nil, t.ID)
	b = append(b, byte(len(t.Kind)))
	b = append(b, t.Kind...)
	return append(b, t.Payload...)
}

func decodeTask(index int, b []byte) (TaskRecord, error) {
	if len(b) < 9 || len(b) < 9+int(b[8]) {
		return TaskRecord{}, fmt.Errorf("store: task %d: record of %d bytes is truncated", index, len(b))
	}
	n := int(b[8])
	return TaskRecord{Index: index, ID: binary.BigEndian.Uint64(b), Kind: string(b[9 : 9+n]),
		Payload: append([]byte(nil), b[9+n:]...)}, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}
