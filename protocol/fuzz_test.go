package protocol

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. Whatever it accepts must
// encode back to the same bytes, because the format has one encoding for
// each value (the flags byte aside, which senders write as 0).
func FuzzDecode(f *testing.F) {
	for _, v := range readVectors(f) {
		f.Add(v.bytes)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode of a decoded %s: %v", m.Type(), err)
		}
		want := append([]byte(nil), b...)
		want[3] = 0
		if !bytes.Equal(again, want) {
			t.Fatalf("round trip changed the bytes:\n got %x\nwant %x", again, want)
		}
	})
}
