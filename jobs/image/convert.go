package imagejob

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
)

// ConvertOptions configure a grayscale job. Zero values take the defaults.
type ConvertOptions struct {
	TileWidth, TileHeight int    // default 128 x 128
	Method                Method // default Luma
	MaxPixels             int64  // default DefaultMaxPixels
	MaxAttempts           int    // per tile; default: the coordinator's
	// Progress, if set, is called with the tiles done so far while the job runs.
	Progress func(done, total int)
	// Notice, if set, receives hints for the user: that no online node can
	// run the tiles (once a job), or that the coordinator is unreachable
	// (once an outage).
	Notice func(message string)
}

// Input is an image checked, decoded and cut into tiles, ready to submit.
type Input struct {
	In, Out string
	Pixels  *Pixels
	Tiles   []Tile
}

// Prepare checks the output path, loads the input and cuts it into tiles.
// Every error it returns is one line naming the file at fault, and no task
// has been sent when it fails.
func Prepare(in, out string, opts ConvertOptions) (*Input, error) {
	if opts.TileWidth == 0 && opts.TileHeight == 0 {
		opts.TileWidth, opts.TileHeight = 128, 128
	}
	if err := CheckOutputPath(out); err != nil {
		return nil, err
	}
	if sameFile(in, out) {
		return nil, fmt.Errorf("%s: the output is the input file; write the output elsewhere", out)
	}
	p, err := Load(in, opts.MaxPixels)
	if err != nil {
		return nil, err
	}
	tiles, err := Split(p, opts.TileWidth, opts.TileHeight, opts.Method)
	if err != nil {
		return nil, err
	}
	return &Input{In: in, Out: out, Pixels: p, Tiles: tiles}, nil
}

// sameFile reports whether paths a and b name one existing file.
func sameFile(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(ia, ib)
}

// Summary describes a finished grayscale job.
type Summary struct {
	JobID                string
	Width, Height, Depth int
	Tiles                int
	TilesByNode          map[string]int // how many tiles each node converted
	Elapsed              time.Duration  // from submit to the file written
	Warnings             []string       // data the output format could not keep
}

// Convert submits in as a job to the coordinator behind c, waits for it,
// puts the tiles back together and writes in.Out.
func Convert(ctx context.Context, c *client.Client, in *Input, opts ConvertOptions) (Summary, error) {
	start := time.Now()
	spec := api.JobSpec{
		Name:        "grayscale " + filepath.Base(in.In),
		MaxAttempts: opts.MaxAttempts,
		Meta: map[string]string{
			"kind": Kind, "input": filepath.Base(in.In), "method": opts.Method.String(),
			"width": strconv.Itoa(in.Pixels.Width), "height": strconv.Itoa(in.Pixels.Height),
			"depth": strconv.Itoa(in.Pixels.Depth), "tile_width": strconv.Itoa(in.Tiles[0].W),
			"tile_height": strconv.Itoa(in.Tiles[0].H),
		},
	}
	for _, t := range in.Tiles {
		spec.Tasks = append(spec.Tasks, api.TaskSpec{Kind: Kind, Payload: t.Payload})
	}
	job, err := c.Submit(ctx, spec)
	if err != nil {
		return Summary{}, fmt.Errorf("submit %s: %w", in.In, err)
	}
	if job, err = waitWithProgress(ctx, c, job, in, opts); err != nil {
		return Summary{}, err
	}
	if job.State != api.JobDone {
		return Summary{}, failedJobError(in, job)
	}
	res, err := c.Results(ctx, job.ID)
	for tries := 0; err != nil && !client.IsNotFound(err) && tries < int(maxOutage/time.Second); tries++ {
		time.Sleep(time.Second) // the coordinator may be restarting
		res, err = c.Results(ctx, job.ID)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("results of job %s: %w", job.ID, err)
	}
	sum := Summary{JobID: job.ID, Width: in.Pixels.Width, Height: in.Pixels.Height, Depth: in.Pixels.Depth,
		Tiles: len(in.Tiles), TilesByNode: map[string]int{}}
	outputs := make([][]byte, len(res.Tasks))
	for i, r := range res.Tasks {
		outputs[i] = r.Output
		sum.TilesByNode[r.Node]++
	}
	gray, err := Assemble(in.Pixels, in.Tiles, outputs)
	if err != nil {
		return Summary{}, fmt.Errorf("job %s: %w", job.ID, err)
	}
	img := gray.Image()
	sum.Warnings = SaveWarnings(in.Out, img)
	if err := Save(in.Out, img); err != nil {
		return Summary{}, err
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// waitWithProgress polls the job until it ends, reporting progress. If no
// tile has started after a few seconds and no online node runs image.gray
// tiles this large, it tells the user once through notice.
func waitWithProgress(ctx context.Context, c *client.Client, job api.Job, in *Input, opts ConvertOptions) (api.Job, error) {
	start, warned := time.Now(), false
	var unreachable time.Time // start of the current outage of the coordinator
	for !job.Ended() {
		next, err := c.WaitJob(ctx, job.ID, 200*time.Millisecond)
		if err != nil {
			// A coordinator restarting on its store comes back with the job:
			// ride out an outage of up to maxOutage.
			if unreachable.IsZero() {
				unreachable = time.Now()
				if opts.Notice != nil {
					opts.Notice(fmt.Sprintf("coordinator unreachable (%v); retrying for up to %v", err, maxOutage))
				}
			}
			if ctx.Err() != nil || time.Since(unreachable) > maxOutage || client.IsNotFound(err) {
				return job, fmt.Errorf("wait for job %s: %w (the job stays on the coordinator; see `mqcluster job %s`)", job.ID, err, job.ID)
			}
			time.Sleep(500 * time.Millisecond)
			continue
		}
		unreachable = time.Time{}
		job = next
		if opts.Progress != nil {
			opts.Progress(job.Done+job.Failed, job.Tasks)
		}
		if !warned && opts.Notice != nil && time.Since(start) > 3*time.Second && job.State == api.JobQueued {
			warned = true
			if reason := noCapableNode(ctx, c, in); reason != "" {
				opts.Notice(reason)
			}
		}
	}
	return job, nil
}

// noCapableNode returns why no online node can take the largest tile of in,
// or "" if one can.
func noCapableNode(ctx context.Context, c *client.Client, in *Input) string {
	largest := 0
	for _, t := range in.Tiles {
		largest = max(largest, len(t.Payload))
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return ""
	}
	for _, n := range nodes {
		if n.State == api.NodeOnline && slices.Contains(n.Kinds, Kind) && n.MaxPayload >= int64(largest) {
			return ""
		}
	}
	return fmt.Sprintf("no online node runs %s tasks of %d bytes; the job waits until one joins (start one with `mqcluster worker`; Ctrl-C stops waiting, and the job stays queued)",
		Kind, largest)
}

// maxOutage is how long Convert waits for an unreachable coordinator.
const maxOutage = 2 * time.Minute

func failedJobError(in *Input, job api.Job) error {
	if job.State == api.JobCancelled {
		return fmt.Errorf("convert %s: job %s was cancelled with %d of %d tiles done; %s was not written",
			in.In, job.ID, job.Done, job.Tasks, in.Out)
	}
	msg := fmt.Sprintf("convert %s: job %s %s: %d of %d tiles failed", in.In, job.ID, job.State, job.Failed, job.Tasks)
	if len(job.Failures) > 0 && len(job.Failures[0].Attempts) > 0 {
		f := job.Failures[0]
		last := f.Attempts[len(f.Attempts)-1]
		msg += fmt.Sprintf(", %s: %s", in.Tiles[f.Index], last.Error)
	}
	return fmt.Errorf("%s (see `mqcluster job %s` for every attempt)", msg, job.ID)
}
