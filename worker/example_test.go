package worker_test

import (
	"context"
	"log"
	"slices"

	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

// A worker with one task kind, as in the README. It has no Output comment,
// so go test compiles it without running it.
func Example() {
	ctx := context.Background()
	w, err := worker.New(worker.Options{NodeID: "rpi-kitchen", Slots: 4})
	if err != nil {
		log.Fatal(err)
	}
	w.Handle("reverse", func(ctx context.Context, payload []byte) ([]byte, error) {
		out := slices.Clone(payload)
		slices.Reverse(out)
		return out, nil
	})
	// Run returns after ctx ends and the running tasks are finished.
	err = w.Run(ctx, mqtt.Dialer("tcp://coordinator.lan:1883"))
	if err != nil {
		log.Fatal(err)
	}
}
