package testenv

import (
	"context"
	"sync"
	"testing"

	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

// StartWorker runs an in-process worker with the given handlers on the broker
// at brokerURL until the test ends, logging to the test log.
func StartWorker(t testing.TB, brokerURL string, opts worker.Options, handlers map[string]worker.HandlerFunc) {
	t.Helper()
	opts.Logger = Logger(t).With("component", "worker")
	w, err := worker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for kind, h := range handlers {
		if err := w.Handle(kind, h); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx, mqtt.Dialer(brokerURL)); err != nil {
			t.Errorf("worker %s: %v", opts.NodeID, err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}
