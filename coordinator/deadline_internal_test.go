package coordinator

import (
	"testing"
	"time"
)

func TestDeadlineScalesWithPayloadAndNode(t *testing.T) {
	c := &Coordinator{opts: Options{TaskDeadline: time.Minute}}
	small, large := &task{payload: make([]byte, 1000)}, &task{payload: make([]byte, 100_000)}
	fresh := &node{}
	if got := c.deadlineLocked(large, fresh); got != time.Minute {
		t.Errorf("deadline on a node with no rate yet: %v, want the base 1m", got)
	}
	fast := &node{bytesPerSecond: 1_000_000}
	slow := &node{bytesPerSecond: 1_000}
	if got, want := c.deadlineLocked(large, slow), time.Minute+400*time.Second; got != want {
		t.Errorf("100 kB on a 1 kB/s node: %v, want %v", got, want)
	}
	if c.deadlineLocked(large, fast) >= c.deadlineLocked(large, slow) {
		t.Error("a fast node gets no shorter deadline than a slow one")
	}
	if c.deadlineLocked(small, slow) >= c.deadlineLocked(large, slow) {
		t.Error("a small payload gets no shorter deadline than a large one")
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
