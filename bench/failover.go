package bench

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/jobs/builtin"
)

// failover starts two worker processes with o.WorkerCommand, gives one of
// them a long task, kills it with SIGKILL and returns the time until the
// task runs on the other.
func failover(ctx context.Context, o Options) (Result, error) {
	e, err := startEnv(ctx, o, "", false, 0, 1)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	procs, err := startWorkerProcesses(o.WorkerCommand, e.url, "failover-a", "failover-b")
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	if err != nil {
		return Result{}, err
	}
	if err := waitOnline(ctx, e.coord, 2); err != nil {
		return Result{}, err
	}
	spec := api.JobSpec{Tasks: []api.TaskSpec{{Kind: builtin.SleepKind, Payload: builtin.SleepPayload(time.Minute)}}}
	job, err := e.coord.Submit(spec)
	if err != nil {
		return Result{}, err
	}
	holder := ""
	for holder == "" {
		for _, n := range e.coord.Nodes() {
			if n.InFlight == 1 {
				holder = n.ID
			}
		}
		time.Sleep(time.Millisecond)
	}
	victim := procs[0]
	if holder == "failover-b" {
		victim = procs[1]
	}
	start := time.Now()
	victim.Process.Signal(syscall.SIGKILL)
	deadline := start.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range e.coord.Nodes() {
			if n.ID != holder && n.InFlight == 1 {
				took := time.Since(start)
				e.coord.Cancel(job.ID)
				return Result{Name: "failover, SIGKILL of a node to its task sent to another", Value: ms(took), Unit: "ms",
					Target: "< 250", Met: met(took < 250*time.Millisecond)}, nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return Result{}, fmt.Errorf("the task of the killed node did not move within 30s")
}

// startWorkerProcesses starts one worker process with one slot per id.
func startWorkerProcesses(command []string, broker string, ids ...string) ([]*exec.Cmd, error) {
	var procs []*exec.Cmd
	for _, id := range ids {
		args := append(command[1:len(command):len(command)], "--broker", broker, "--id", id, "--slots", "1", "--log-level", "error")
		p := exec.Command(command[0], args...)
		if err := p.Start(); err != nil {
			return procs, fmt.Errorf("start worker %s: %w", id, err)
		}
		procs = append(procs, p)
	}
	return procs, nil
}
