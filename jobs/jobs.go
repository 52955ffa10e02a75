// Package jobs registers the task kinds that mqcluster's own worker runs.
package jobs

import (
	"context"
	"time"

	"github.com/mqcluster/mqcluster/jobs/builtin"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
	"github.com/mqcluster/mqcluster/worker"
)

// Register adds every built-in task kind to w: image.gray, noop and sleep.
// A delay above zero pauses each task first, to make a fast machine behave
// like a slow board in demos and failover tests.
func Register(w *worker.Worker, delay time.Duration) error {
	for kind, h := range map[string]worker.HandlerFunc{
		imagejob.Kind:     imageHandler,
		builtin.NoopKind:  builtin.Noop,
		builtin.SleepKind: builtin.Sleep,
	} {
		if delay > 0 {
			h = delayed(h, delay)
		}
		if err := w.Handle(kind, h); err != nil {
			return err
		}
	}
	return nil
}

func imageHandler(_ context.Context, payload []byte) ([]byte, error) {
	return imagejob.Process(payload)
}

func delayed(h worker.HandlerFunc, d time.Duration) worker.HandlerFunc {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return h(ctx, payload)
	}
}
