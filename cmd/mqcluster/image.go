package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mqcluster/mqcluster/client"
	"github.com/mqcluster/mqcluster/cluster"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

func newImageCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Image jobs: grayscale conversion of photos, tile by tile",
	}
	cmd.AddCommand(newGrayscaleCommand(g))
	return cmd
}

// grayscaleFlags are the flags of `image grayscale`.
type grayscaleFlags struct {
	clusterFlags
	apiClientFlags
	server    string
	tile      string
	method    string
	local     int
	slots     int
	delay     time.Duration
	maxPixels int64
}

func newGrayscaleCommand(g *globalFlags) *cobra.Command {
	var f grayscaleFlags
	cmd := &cobra.Command{
		Use:   "grayscale IN OUT",
		Short: "Convert a photo to grayscale, tile by tile, on the cluster's nodes",
		Long: `Convert IN to grayscale on the cluster and write OUT. IN is a PNG, JPEG or
GIF; OUT's extension (.png, .jpg, .jpeg, .gif) picks its format. The image is
cut into tiles, each tile becomes a task, and the results are put back
together, byte-identical to converting the whole image in one process.

With --local N the command starts its own cluster of N workers in this
process (embedded broker on a free loopback port), runs the job and stops.
Otherwise it submits to the coordinator at --server.`,
		Example: `  mqcluster image grayscale --local 4 testdata/images/coffee.png coffee-gray.png
  mqcluster image grayscale --server http://coordinator.lan:8080 --tile 64 photo.jpg gray.png`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("expected IN and OUT, got %d argument(s): mqcluster image grayscale [flags] IN OUT", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, g, args[0], args[1])
		},
	}
	f.clusterFlags.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&f.server, "server", client.DefaultServer, "URL of the coordinator's HTTP API")
	f.apiClientFlags.register(cmd)
	fs.StringVar(&f.tile, "tile", "128", "tile size in pixels: N for NxN, or WxH")
	fs.StringVar(&f.method, "method", "luma", "gray method: luma (ITU-R BT.601, also called bt601) or average ((R+G+B)/3)")
	fs.IntVar(&f.local, "local", 0, "run a throwaway cluster of this many workers in this process")
	fs.IntVar(&f.slots, "slots", 1, "with --local: slots of each worker")
	fs.DurationVar(&f.delay, "task-delay", 0, "with --local: pause before each task, to watch the tiles spread over the workers")
	fs.Int64Var(&f.maxPixels, "max-pixels", imagejob.DefaultMaxPixels, "reject images with more pixels than this, before decoding them")
	return cmd
}

func (f *grayscaleFlags) run(cmd *cobra.Command, g *globalFlags, in, out string) error {
	if f.local > 0 && !cmd.Flags().Changed("log-level") {
		g.logLevel = "warn" // the throwaway cluster's life cycle is not news
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	opts, err := f.options(cmd)
	if err != nil {
		return err
	}
	// Check the input and output before anything starts, so a bad file
	// sends no task.
	input, err := imagejob.Prepare(in, out, opts)
	if err != nil {
		return err
	}
	server := f.server
	if f.local > 0 {
		c, err := f.startLocal(cmd, g, log)
		if err != nil {
			return err
		}
		defer c.Close()
		server = c.APIURL
	}
	api, err := f.apiClientFlags.client(server)
	if err != nil {
		return err
	}
	bar := newProgress(len(input.Tiles))
	opts.Progress = bar.update
	opts.Notice = func(msg string) { log.Warn(msg) }
	sum, err := imagejob.Convert(cmd.Context(), api, input, opts)
	bar.finish()
	if err != nil {
		return err
	}
	for _, w := range sum.Warnings {
		log.Warn(w, "output", out)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %dx%d, %s on %s in %s (job %s)\n",
		out, sum.Width, sum.Height, plural(sum.Tiles, "tile"), plural(len(sum.TilesByNode), "node"),
		sum.Elapsed.Round(time.Millisecond), sum.JobID)
	return nil
}

func (f *grayscaleFlags) options(cmd *cobra.Command) (imagejob.ConvertOptions, error) {
	opts := imagejob.ConvertOptions{MaxPixels: f.maxPixels}
	var err error
	if opts.TileWidth, opts.TileHeight, err = parseTile(f.tile); err != nil {
		return opts, err
	}
	if opts.Method, err = imagejob.ParseMethod(f.method); err != nil {
		return opts, fmt.Errorf("--method: %w", err)
	}
	changed := cmd.Flags().Changed
	switch {
	case f.local < 0:
		return opts, fmt.Errorf("--local: %d is negative", f.local)
	case f.local > 0 && changed("server"):
		return opts, fmt.Errorf("--local and --server exclude each other: --local runs its own cluster")
	case f.local == 0 && (changed("slots") || changed("task-delay") || changed("cluster") || changed("topic-root")):
		return opts, fmt.Errorf("--slots, --task-delay, --cluster and --topic-root set up the cluster of --local; with --server, the coordinator's own settings apply")
	case f.slots < 1:
		return opts, fmt.Errorf("--slots: %d is less than 1", f.slots)
	}
	return opts, nil
}

// startLocal starts the throwaway cluster of --local workers.
func (f *grayscaleFlags) startLocal(cmd *cobra.Command, g *globalFlags, log *slog.Logger) (*cluster.Cluster, error) {
	topics, err := f.topics()
	if err != nil {
		return nil, err
	}
	return cluster.Start(cmd.Context(), cluster.Options{
		BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Workers: f.local, Slots: f.slots, TaskDelay: f.delay,
		Logger: log, Coordinator: coordinatorOptionsForLocal(topics),
	})
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// parseTile reads "N" or "WxH".
func parseTile(s string) (int, int, error) {
	ws, hs, found := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := w, error(nil)
	if found {
		h, err2 = strconv.Atoi(hs)
	}
	if err1 != nil || err2 != nil || w < 1 || h < 1 || w > imagejob.MaxTileSide || h > imagejob.MaxTileSide {
		return 0, 0, fmt.Errorf("--tile: %q is not N or WxH with sides from 1 to %d", s, imagejob.MaxTileSide)
	}
	return w, h, nil
}

// progress draws a bar on a terminal and nothing otherwise.
type progress struct {
	bar *progressbar.ProgressBar
}

func newProgress(total int) *progress {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("tiles"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
	)}
}

func (p *progress) update(done, _ int) {
	if p.bar != nil {
		p.bar.Set(done)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}
