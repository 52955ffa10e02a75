package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/internal/testenv"
)

// TestRunSmall runs every measurement at a tiny size, so the bench command
// keeps working. It checks that each figure is there, never its value:
// speed targets belong to the benchmark's report, not to a timed test.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("bench run skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := Options{Tasks: 200, SimNodes: 10, SimTasks: 100, QueuedTasks: 1000, ImageSide: 300, latencyCount: 20,
		WorkerCommand: []string{testenv.Binary(t), "worker"}}
	results, err := Run(ctx, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	Print(&table, results)
	t.Log("\n" + table.String())
	for _, want := range []string{"raw MQTT QoS 1 round trips", "no-op tasks, embedded, in memory", "durable (fsync)",
		"latency p50", "scheduling efficiency", "failover", "memory per queued task", "image 300x300"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("no figure %q in the report", want)
		}
	}
	for _, r := range results {
		if r.Value <= 0 {
			t.Errorf("figure %q is %v", r.Name, r.Value)
		}
	}
}

// BenchmarkSchedulingEfficiency runs the scheduling measurement once per
// iteration and reports its figure; for profiling the dispatcher:
// go test ./bench -run X -bench Scheduling -benchtime 1x -cpuprofile cpu.out
func BenchmarkSchedulingEfficiency(b *testing.B) {
	o := Options{}
	o.setDefaults()
	for range b.N {
		r, err := schedulingEfficiency(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.Value, "%efficiency")
	}
}
