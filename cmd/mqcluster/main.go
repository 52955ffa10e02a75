// Command mqcluster runs a compute cluster over MQTT: the embedded broker,
// the coordinator, workers, and the jobs you submit to them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Signals are handled here once; the packages below only see ctx.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mqcluster:", err)
		os.Exit(1)
	}
}
