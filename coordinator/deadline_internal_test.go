package coordinator

import (
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/protocol"
)

func TestDeadlineScalesWithPayloadAndNode(t *testing.T) {
	c := &Coordinator{opts: Options{TaskDeadline: time.Minute}}
	small, large := &task{payload: make([]byte, 1000)}, &task{payload: make([]byte, 100_000)}
	fresh := &node{birth: protocol.Birth{Slots: 1}}
	if got := c.deadlineLocked(large, fresh, 0); got != time.Minute {
		t.Errorf("deadline on a node with no rate yet: %v, want the base 1m", got)
	}
	fast := &node{bytesPerSecond: 1_000_000, birth: protocol.Birth{Slots: 1}}
	slow := &node{bytesPerSecond: 1_000, birth: protocol.Birth{Slots: 1}}
	if got, want := c.deadlineLocked(large, slow, 0), time.Minute+400*time.Second; got != want {
		t.Errorf("100 kB on a 1 kB/s node: %v, want %v", got, want)
	}
	if c.deadlineLocked(large, fast, 0) >= c.deadlineLocked(large, slow, 0) {
		t.Error("a fast node gets no shorter deadline than a slow one")
	}
	if c.deadlineLocked(small, slow, 0) >= c.deadlineLocked(large, slow, 0) {
		t.Error("a small payload gets no shorter deadline than a large one")
	}
}

func TestDeadlineCoversTheWaitForASlot(t *testing.T) {
	c := &Coordinator{opts: Options{TaskDeadline: time.Minute}}
	nd := &node{birth: protocol.Birth{Slots: 2, Prefetch: 4}}
	for ahead, want := range []time.Duration{time.Minute, time.Minute, 2 * time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
		if got := c.deadlineLocked(&task{}, nd, ahead); got != want {
			t.Errorf("deadline with %d tasks ahead on 2 slots: %v, want %v", ahead, got, want)
		}
	}
}

func TestRetryDelayRange(t *testing.T) {
	for failures := 1; failures <= 10; failures++ {
		base := min(200*time.Millisecond<<min(failures-1, 6), 10*time.Second)
		for range 100 {
			d := retryDelay(failures)
			if d < base/2 || d >= base*3/2 {
				t.Fatalf("retryDelay(%d) = %v, want within [%v, %v)", failures, d, base/2, base*3/2)
			}
		}
	}
}
