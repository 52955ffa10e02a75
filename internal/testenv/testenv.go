// Package testenv starts the real components that tests run against: the
// embedded broker on a free loopback port and Mosquitto, and routes logs to
// the test log.
package testenv

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/mqcluster/mqcluster/broker"
)

// Logger returns a logger that writes to t.Log at Debug level and above.
// Lines logged after the test ends, by goroutines still winding down, are
// dropped, since t.Log would panic then.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// Broker starts the embedded broker on a free loopback port and stops it
// when the test ends. It returns the broker URL.
func Broker(t testing.TB) string {
	t.Helper()
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Logger: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.URL()
}

// Context returns a context that ends with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// fail marks the test failed, unless it has ended.
func (w *testWriter) fail(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Error(msg)
	}
}
