package main

import (
	"fmt"
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
		Short: "Image jobs",
	}
	cmd.AddCommand(newGrayscaleCommand(g))
	return cmd
}

func newGrayscaleCommand(g *globalFlags) *cobra.Command {
	var (
		server    string
		tile      string
		method    string
		local     int
		slots     int
		delay     time.Duration
		maxPixels int64
	)
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
  mqcluster image grayscale --server http://10.0.0.5:8080 --tile 64 photo.jpg gray.png`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if local > 0 && !cmd.Flags().Changed("log-level") {
				g.logLevel = "warn" // the throwaway cluster's life cycle is not news
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			opts := imagejob.ConvertOptions{MaxPixels: maxPixels}
			if opts.TileWidth, opts.TileHeight, err = parseTile(tile); err != nil {
				return err
			}
			if opts.Method, err = imagejob.ParseMethod(method); err != nil {
				return fmt.Errorf("--method: %w", err)
			}
			if local < 0 {
				return fmt.Errorf("--local: %d is negative", local)
			}
			// Check the input and output before anything starts, so a bad file
			// sends no task.
			in, err := imagejob.Prepare(args[0], args[1], opts)
			if err != nil {
				return err
			}
			if local > 0 {
				topics, err := g.topics()
				if err != nil {
					return err
				}
				c, err := cluster.Start(cmd.Context(), cluster.Options{
					BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Workers: local, Slots: slots, TaskDelay: delay,
					Logger: log, Coordinator: coordinatorOptionsForLocal(topics),
				})
				if err != nil {
					return err
				}
				defer c.Close()
				server = c.APIURL
			}
			api, err := client.New(server, nil)
			if err != nil {
				return fmt.Errorf("--server: %w", err)
			}
			bar := newProgress(len(in.Tiles))
			opts.Progress = bar.update
			sum, err := imagejob.Convert(cmd.Context(), api, in, opts)
			bar.finish()
			if err != nil {
				return err
			}
			for _, w := range sum.Warnings {
				log.Warn(w, "output", args[1])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %dx%d, %d tiles on %d nodes in %s (job %s)\n",
				args[1], sum.Width, sum.Height, sum.Tiles, len(sum.TilesByNode), sum.Elapsed.Round(time.Millisecond), sum.JobID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", client.DefaultServer, "URL of the coordinator's HTTP API")
	f.StringVar(&tile, "tile", "128", "tile size in pixels: N for NxN, or WxH")
	f.StringVar(&method, "method", "luma", "gray method: luma (ITU-R BT.601) or average ((R+G+B)/3)")
	f.IntVar(&local, "local", 0, "run a throwaway cluster of this many workers in this process")
	f.IntVar(&slots, "slots", 1, "with --local: slots of each worker")
	f.DurationVar(&delay, "task-delay", 0, "with --local: pause before each task, to watch the tiles spread over the workers")
	f.Int64Var(&maxPixels, "max-pixels", imagejob.DefaultMaxPixels, "refuse images with more pixels than this, before decoding them")
	return cmd
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
