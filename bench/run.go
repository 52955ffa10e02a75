package bench

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

func tempDir() string { return os.TempDir() }

// Run measures every figure and returns them in order. progress, if set,
// gets a line as each step starts.
func Run(ctx context.Context, o Options, progress func(string)) ([]Result, error) {
	o.setDefaults()
	if progress == nil {
		progress = func(string) {}
	}
	var out []Result
	brokers := []struct{ name, url string }{{"embedded", ""}}
	if o.BrokerURL != "" {
		brokers = append(brokers, struct{ name, url string }{"mosquitto", o.BrokerURL})
	}
	for _, b := range brokers {
		rs, err := runBroker(ctx, o, b.name, b.url, progress)
		if err != nil {
			return out, fmt.Errorf("%s broker: %w", b.name, err)
		}
		out = append(out, rs...)
	}
	progress("scheduling efficiency")
	r, err := schedulingEfficiency(ctx, o)
	if err != nil {
		return out, err
	}
	out = append(out, r)
	if len(o.WorkerCommand) > 0 {
		progress("failover")
		r, err := failover(ctx, o)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	progress("memory per queued task")
	perTask, err := queuedMemory(ctx, o, o.QueuedTasks)
	if err != nil {
		return out, err
	}
	out = append(out, Result{Name: fmt.Sprintf("coordinator memory per queued task (%d queued)", o.QueuedTasks),
		Value: perTask, Unit: "bytes", Target: "<= 512", Met: met(perTask <= 512)})
	progress("image job")
	rs, err := imageJob(ctx, o)
	if err != nil {
		return out, err
	}
	return append(out, rs...), nil
}

func runBroker(ctx context.Context, o Options, name, url string, progress func(string)) ([]Result, error) {
	var out []Result
	for _, durable := range []bool{false, true} {
		if durable && o.skipDurable {
			continue
		}
		label := name + ", in memory"
		if durable {
			label = name + ", durable (fsync)"
		}
		progress("no-op throughput, " + label)
		e, err := startEnv(ctx, o, url, durable, 4, 16)
		if err != nil {
			return nil, err
		}
		raw, err := rawRoundTrips(ctx, e.url, 3*time.Second, 256)
		if err != nil {
			e.close()
			return nil, err
		}
		rate, err := noopThroughput(ctx, e, o.Tasks)
		if err != nil {
			e.close()
			return nil, err
		}
		out = append(out,
			Result{Name: "raw MQTT QoS 1 round trips, " + name + ", before the " + labelRun(durable) + " run", Value: raw, Unit: "per s",
				Note: "the limit the next row is compared with"},
			Result{Name: "no-op tasks, " + label, Value: rate, Unit: "per s", Target: fmt.Sprintf(">= %.0f (raw round trips)", raw),
				Met: met(rate >= raw), Note: fmt.Sprintf("%.0f%% of the raw rate", 100*rate/raw)})
		lat, err := latencies(ctx, e, o.latencyCount)
		if err != nil {
			e.close()
			return nil, err
		}
		stopLoad := backgroundLoad(e, rate/2)
		loaded, err := latencies(ctx, e, o.latencyCount)
		stopLoad()
		e.close()
		if err != nil {
			return nil, err
		}
		p50, p99 := percentile(lat, 0.50), percentile(loaded, 0.99)
		out = append(out,
			Result{Name: "latency p50, one task at a time, " + label, Value: ms(p50), Unit: "ms", Target: "< 1", Met: met(p50 < time.Millisecond)},
			Result{Name: "latency p99 at half the peak load, " + label, Value: ms(p99), Unit: "ms", Target: "< 5", Met: met(p99 < 5*time.Millisecond),
				Note: fmt.Sprintf("%.0f no-op tasks/s of other load", rate/2)})
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func labelRun(durable bool) string {
	if durable {
		return "durable"
	}
	return "in-memory"
}

// backgroundLoad submits no-op tasks at perSecond, in jobs of 100 every
// tick, until the returned function is called.
func backgroundLoad(e *env, perSecond float64) (stop func()) {
	const perJob = 100
	interval := time.Duration(float64(time.Second) * perJob / max(perSecond, 1))
	done := make(chan struct{})
	finished := make(chan struct{})
	spec := api.JobSpec{Name: "bench-load", Tasks: builtin.Tasks(builtin.NoopKind, nil, perJob)}
	go func() {
		defer close(finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				e.coord.Submit(spec)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// schedulingEfficiency runs SimTasks tasks of 20 ms on SimNodes nodes, each
// with its own MQTT connection, and compares the makespan with the ideal.
func schedulingEfficiency(ctx context.Context, o Options) (Result, error) {
	e, err := startEnv(ctx, o, "", false, o.SimNodes, 1)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	spec := api.JobSpec{Tasks: builtin.Tasks(builtin.SleepKind, builtin.SleepPayload(20*time.Millisecond), o.SimTasks)}
	start := time.Now()
	job, err := e.coord.Submit(spec)
	if err != nil {
		return Result{}, err
	}
	if _, err := e.coord.WaitJob(ctx, job.ID); err != nil {
		return Result{}, err
	}
	took := time.Since(start)
	e.close()
	floor := sleepFloor(o.SimNodes, o.SimTasks/o.SimNodes, 20*time.Millisecond)
	ideal := time.Duration(o.SimTasks/o.SimNodes) * 20 * time.Millisecond
	eff := 100 * ideal.Seconds() / took.Seconds()
	return Result{Name: fmt.Sprintf("scheduling efficiency, %d nodes, %d tasks of 20 ms", o.SimNodes, o.SimTasks),
		Value: eff, Unit: "%", Target: ">= 95", Met: met(eff >= 95),
		Note: fmt.Sprintf("ideal %v, measured %v; the same sleeps with no cluster take %v",
			ideal, took.Round(time.Millisecond), floor.Round(time.Millisecond))}, nil
}

// sleepFloor returns how long n goroutines take to sleep for d, perSleeper
// times one after another. That is the makespan a scheduler with no cost
// would reach here: Go's timers wake a sleeper up to a millisecond late.
func sleepFloor(n, perSleeper int, d time.Duration) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range perSleeper {
				time.Sleep(d)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// imageJob converts an ImageSide square image of random colors in one
// process and on a cluster of 4 local workers.
func imageJob(ctx context.Context, o Options) ([]Result, error) {
	dir, err := os.MkdirTemp("", "mqc-bench-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.png")
	if err := writeNoise(in, o.ImageSide); err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := imagejob.Load(in, 0)
	if err != nil {
		return nil, err
	}
	g, err := imagejob.ConvertLocal(p, imagejob.Luma)
	if err != nil {
		return nil, err
	}
	if err := imagejob.Save(filepath.Join(dir, "local.png"), g.Image()); err != nil {
		return nil, err
	}
	local := time.Since(start)

	c, err := cluster.Start(ctx, cluster.Options{BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Workers: 4, Slots: 1,
		Logger: o.Logger, Coordinator: coordinator.Options{NoBackups: true}})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	apiClient, _ := client.New(c.APIURL, nil)
	start = time.Now()
	input, err := imagejob.Prepare(in, filepath.Join(dir, "cluster.png"), imagejob.ConvertOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := imagejob.Convert(ctx, apiClient, input, imagejob.ConvertOptions{}); err != nil {
		return nil, err
	}
	onCluster := time.Since(start)
	side, tiles := o.ImageSide, len(input.Tiles)
	return []Result{
		{Name: fmt.Sprintf("image %dx%d, one process (decode, convert, encode)", side, side), Value: local.Seconds(), Unit: "s"},
		{Name: fmt.Sprintf("image %dx%d, 4 local workers, %d tiles of 128x128", side, side, tiles), Value: onCluster.Seconds(), Unit: "s",
			Note: fmt.Sprintf("%.1fx the one-process time", onCluster.Seconds()/local.Seconds())},
	}, nil
}

// writeNoise writes a side x side PNG of random colors.
func writeNoise(path string, side int) error {
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < len(img.Pix); i += 4 {
		c := color.NRGBA{uint8(rng.Uint32()), uint8(rng.Uint32()), uint8(rng.Uint32()), 255}
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Print writes results as a table.
func Print(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tMET\tNOTE")
	for _, r := range results {
		metText := ""
		if r.Met != nil {
			metText = map[bool]string{true: "yes", false: "no"}[*r.Met]
		}
		fmt.Fprintf(tw, "%s\t%.3g %s\t%s\t%s\t%s\n", r.Name, r.Value, r.Unit, r.Target, metText, r.Note)
	}
	tw.Flush()
}
