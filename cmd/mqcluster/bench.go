package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mqcluster/mqcluster/bench"
)

func newBenchCommand(g *globalFlags) *cobra.Command {
	var (
		opts     bench.Options
		jsonPath string
		quick    bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput, latency, scheduling efficiency and memory against their targets",
		Long: `Measure, in this process over loopback TCP: raw MQTT QoS 1 round trips on
the same broker and client library (the limit), no-op tasks per second with
the store off and on, one-task latency, scheduling efficiency with simulated
nodes of 20 ms tasks, failover from a worker process killed with SIGKILL,
coordinator memory per queued task, and the image job on a 4096x4096 image. Prints a table with each target; --json writes it too.
docs/benchmarks.md describes the method and records the figures.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if self, err := os.Executable(); err == nil {
				opts.WorkerCommand = []string{self, "worker"}
			}
			if quick {
				opts.Tasks, opts.SimNodes, opts.SimTasks, opts.QueuedTasks = 2000, 50, 1000, 100_000
			}
			results, err := bench.Run(cmd.Context(), opts, func(step string) {
				fmt.Fprintln(os.Stderr, "bench:", step)
			})
			bench.Print(cmd.OutOrStdout(), results)
			if err != nil {
				return err
			}
			if jsonPath == "" {
				return nil
			}
			b, err := json.MarshalIndent(results, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(jsonPath, append(b, '\n'), 0o644)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Tasks, "tasks", 20_000, "no-op tasks in each throughput run")
	f.IntVar(&opts.SimNodes, "sim-nodes", 200, "simulated nodes in the scheduling run, each with its own MQTT connection")
	f.IntVar(&opts.SimTasks, "sim-tasks", 10_000, "20 ms tasks in the scheduling run")
	f.IntVar(&opts.QueuedTasks, "queued", 1_000_000, "tasks queued for the memory figure")
	f.StringVar(&opts.BrokerURL, "mosquitto", "", "also measure on this external broker, such as tcp://127.0.0.1:1884")
	f.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
	f.BoolVar(&quick, "quick", false, "small sizes, for a run of a few seconds")
	_ = g
	return cmd
}
