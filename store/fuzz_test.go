package store

import (
	"testing"
	"time"
)

// FuzzDecodeTask feeds arbitrary bytes to the task record decoder, which
// reads what a damaged file could hold: it must return an error or a task,
// never panic.
func FuzzDecodeTask(f *testing.F) {
	f.Add(encodeTask(TaskRecord{ID: 7, Kind: "image.gray", Payload: []byte{8, 0, 0, 1, 0, 1, 1, 2, 3}}))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		task, err := decodeTask(0, b)
		if err != nil {
			return
		}
		if again := encodeTask(task); string(again) != string(b) {
			t.Fatalf("round trip changed %x to %x", b, again)
		}
	})
}

// FuzzDecodeAttempt does the same for attempt records, in both formats.
func FuzzDecodeAttempt(f *testing.F) {
	started := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	f.Add(encodeAttempt(AttemptRecord{Node: "a4:cf:12:0b:3e:01", Started: started, Deadline: started.Add(time.Minute),
		State: "failed", Error: "node a4:cf:12:0b:3e:01: tile too large"}))
	f.Add(encodeAttempt(AttemptRecord{}))
	f.Add([]byte(`{"node":"n1","started":"2026-12-04T10:00:00Z","state":"running"}`))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a AttemptRecord
		if err := decodeAttempt(b, &a); err != nil || len(b) == 0 || b[0] != attemptFormat {
			return
		}
		if again := encodeAttempt(a); string(again) != string(b) {
			t.Fatalf("round trip changed %x to %x", b, again)
		}
	})
}
