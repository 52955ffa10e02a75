package coordinator

import (
	"time"
)

// logEvery is the least time between two log lines of one kind of dropped
// input from one node; the lines in between are counted, not written.
const logEvery = 10 * time.Second

// limits on what a client of the broker can make the coordinator hold.
const (
	// maxNodes bounds the node registry, so births of made-up ids cannot
	// grow it without end.
	maxNodes = 10_000
	// maxBirthsPerSecond bounds the births handled in one second.
	maxBirthsPerSecond = 500
)

// dropLimiter decides which dropped-input events get a log line. The caller
// holds Coordinator.mu.
type dropLimiter struct {
	last       map[string]time.Time // by kind and node
	suppressed map[string]int
}

// allow reports whether to log an event of kind from node now, and how many
// were suppressed since the last line.
func (l *dropLimiter) allow(kind, node string, now time.Time) (bool, int) {
	if l.last == nil {
		l.last, l.suppressed = map[string]time.Time{}, map[string]int{}
	}
	key := kind + "\x00" + node
	if now.Sub(l.last[key]) < logEvery {
		l.suppressed[key]++
		return false, 0
	}
	if len(l.last) > maxNodes {
		clear(l.last) // bounded like the registry; forgetting only logs sooner
	}
	n := l.suppressed[key]
	delete(l.suppressed, key)
	l.last[key] = now
	return true, n
}

// birthGate counts births per second and reports whether one more may be
// handled. The caller holds Coordinator.mu.
type birthGate struct {
	second time.Time
	count  int
}

func (g *birthGate) allow(now time.Time) bool {
	if now.Sub(g.second) >= time.Second {
		g.second, g.count = now, 0
	}
	g.count++
	return g.count <= maxBirthsPerSecond
}
