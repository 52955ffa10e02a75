package store

import "testing"

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
