package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
)

// apiFlags are the flags of the commands that call the HTTP API.
type apiFlags struct {
	apiClientFlags
	server   string
	json     bool
	watch    bool
	interval time.Duration
}

// registerWatch adds --watch and --interval.
func (f *apiFlags) registerWatch(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.watch, "watch", false, "print again every --interval until Ctrl-C")
	cmd.Flags().DurationVar(&f.interval, "interval", time.Second, "with --watch: time between prints")
}

// repeat runs print once, or with --watch every interval until ctx ends,
// clearing a terminal screen before each print.
func (f *apiFlags) repeat(ctx context.Context, out io.Writer, print func() error) error {
	if !f.watch {
		return print()
	}
	if f.interval < 100*time.Millisecond {
		return fmt.Errorf("--interval: %v is shorter than 100ms", f.interval)
	}
	clear := term.IsTerminal(int(os.Stdout.Fd()))
	for {
		if clear {
			fmt.Fprint(out, "\x1b[H\x1b[2J")
		}
		if err := print(); err != nil {
			return err
		}
		if !clear {
			fmt.Fprintln(out)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(f.interval):
		}
	}
}

func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", client.DefaultServer, "URL of the coordinator's HTTP API")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON instead of text")
	f.apiClientFlags.register(cmd)
}

func (f *apiFlags) client() (*client.Client, error) {
	return f.apiClientFlags.client(f.server)
}

func newNodesCommand(_ *globalFlags) *cobra.Command {
	return newListCommand("nodes", "List the nodes the coordinator has seen", (*client.Client).Nodes,
		func(out io.Writer, nodes []api.Node) { printNodes(out, nodes, time.Now()) })
}

// newListCommand builds a command that fetches a list from the API and
// prints it as a table or JSON, once or with --watch again and again.
func newListCommand[T any](use, short string, fetch func(*client.Client, context.Context) (T, error),
	print func(io.Writer, T)) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			return f.repeat(cmd.Context(), cmd.OutOrStdout(), func() error {
				list, err := fetch(c, cmd.Context())
				if err != nil {
					return err
				}
				if f.json {
					return printJSON(cmd.OutOrStdout(), list)
				}
				print(cmd.OutOrStdout(), list)
				return nil
			})
		},
	}
	f.register(cmd)
	f.registerWatch(cmd)
	return cmd
}

func printNodes(out io.Writer, nodes []api.Node, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tKINDS\tSLOTS\tIN FLIGHT\tDONE\tFAILED\tLAST SEEN")
	for _, n := range nodes {
		state := n.State
		if n.Reason != "" {
			state += " (" + n.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s ago\n", n.ID, state, strings.Join(n.Kinds, ","),
			n.Slots, n.InFlight, n.Done, n.Failed, now.Sub(n.LastSeen).Round(100*time.Millisecond))
	}
	tw.Flush()
}

func newJobsCommand(_ *globalFlags) *cobra.Command {
	return newListCommand("jobs", "List the jobs of the coordinator", (*client.Client).Jobs, printJobs)
}

func printJobs(out io.Writer, jobs []api.Job) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tDONE\tFAILED\tTASKS\tELAPSED")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", j.ID, j.Name, j.State, j.Done, j.Failed, j.Tasks, elapsed(j))
	}
	tw.Flush()
}

func elapsed(j api.Job) time.Duration {
	end := time.Now()
	if j.Finished != nil {
		end = *j.Finished
	}
	return end.Sub(j.Created).Round(time.Millisecond)
}

func newJobCommand(_ *globalFlags) *cobra.Command {
	return newOneJobCommand("job", "Show one job: its progress and every attempt of its failed tasks",
		func(ctx context.Context, c *client.Client, id string) (api.Job, error) { return c.Job(ctx, id) })
}

// newOneJobCommand builds a command that takes one job ID, calls do with
// it and prints the job it returns.
func newOneJobCommand(name, short string, do func(context.Context, *client.Client, string) (api.Job, error)) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%s takes one job ID, such as job-1c9a0e4d22f1; list them with `mqcluster jobs`", name)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			j, err := do(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), j)
			}
			printJob(cmd.OutOrStdout(), j)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func printJob(out io.Writer, j api.Job) {
	fmt.Fprintf(out, "job %s", j.ID)
	if j.Name != "" {
		fmt.Fprintf(out, " (%s)", j.Name)
	}
	fmt.Fprintf(out, ": %s\n", j.State)
	fmt.Fprintf(out, "tasks: %d done, %d failed, %d running, %d queued", j.Done, j.Failed, j.Running, j.Queued)
	if j.Cancelled > 0 {
		fmt.Fprintf(out, ", %d cancelled", j.Cancelled)
	}
	fmt.Fprintf(out, ", %d in all\n", j.Tasks)
	fmt.Fprintf(out, "created %s, elapsed %s\n", j.Created.Format(time.RFC3339), elapsed(j))
	if len(j.Meta) > 0 {
		keys := slices.Sorted(maps.Keys(j.Meta))
		var pairs []string
		for _, k := range keys {
			pairs = append(pairs, k+"="+j.Meta[k])
		}
		fmt.Fprintf(out, "meta: %s\n", strings.Join(pairs, " "))
	}
	for _, f := range j.Failures {
		fmt.Fprintf(out, "task %d failed:\n", f.Index)
		for _, a := range f.Attempts {
			took := time.Duration(a.Seconds * float64(time.Second)).Round(time.Millisecond)
			fmt.Fprintf(out, "  attempt %d on %s: %s after %s", a.Number, a.Node, a.Outcome, took)
			if a.Error != "" {
				fmt.Fprintf(out, ": %s", a.Error)
			}
			fmt.Fprintln(out)
		}
	}
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newCancelCommand(_ *globalFlags) *cobra.Command {
	return newOneJobCommand("cancel", "Cancel a job: drop its queued tasks and abort its running ones",
		func(ctx context.Context, c *client.Client, id string) (api.Job, error) { return c.Cancel(ctx, id) })
}
