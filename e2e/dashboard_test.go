package e2e

import (
	"context"
	"fmt"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// RequireChromiumEnv, when 1, turns a missing Chromium into a failure; the
// README's test command installs Debian's chromium and sets it.
const requireChromiumEnv = "MQC_REQUIRE_CHROMIUM"

func chromiumPath(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv(requireChromiumEnv) == "1" {
		t.Fatalf("chromium not found and %s=1: apt-get install chromium", requireChromiumEnv)
	}
	t.Skip("chromium not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// The dashboard in a real headless Chromium: it loads with no console error,
// shows the nodes of a running cluster, and draws a finished image job with
// the same gray values as the file the client wrote.
func TestDashboardInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "dash-1")
	startWorker(t, tc.BrokerURL, "dash-2")
	waitFor(t, 20*time.Second, "2 nodes online", func() bool { return countOnline(tc) == 2 })
	in := filepath.Join(imagesDir, "chelsea.png")
	written, sum := convertOnCluster(t, tc, in, ".png", imagejob.ConvertOptions{TileWidth: 64, TileHeight: 64})
	out := filepath.Join(t.TempDir(), "out.png")
	if err := os.WriteFile(out, written, 0o644); err != nil {
		t.Fatal(err)
	}
	jobID := sum.JobID

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 1000))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var consoleErrors []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				consoleErrors = append(consoleErrors, fmt.Sprint(ev.Args))
			}
		case *runtime.EventExceptionThrown:
			consoleErrors = append(consoleErrors, ev.ExceptionDetails.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	err = chromedp.Do(ctx, chromedp.Navigate(tc.APIURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#nodes tbody tr[data-node="dash-2"]`)))
	if err != nil {
		t.Fatal(err)
	}
	nodesText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#nodes tbody`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nodesText, "dash-1") || !strings.Contains(nodesText, "online") {
		t.Errorf("nodes table %q does not show dash-1 online", nodesText)
	}
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-job=%q]`, jobID))),
		chromedp.WaitVisible(chromedp.CSS(`#picture-box`)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every tile drawn", func() bool {
		drawn, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#picture`), "data-tiles-drawn"))
		return err == nil && drawn.Value == fmt.Sprint(sum.Tiles)
	})
	pixels, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`(() => {
		const c = document.getElementById("picture");
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		const out = [];
		for (let i = 0; i < d.length; i += 4) out.push(d[i]);
		return out;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	compareGray(t, out, pixels)

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv("MQC_UPDATE_SCREENSHOT") == "1" {
		name = filepath.Join("..", "docs", "dashboard.png") // for the README
	}
	if err := os.WriteFile(name, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrors) > 0 {
		t.Errorf("console errors: %q", consoleErrors)
	}
}

// compareGray checks the canvas's gray values against the image file.
func compareGray(t *testing.T, path string, canvas []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if len(canvas) != b.Dx()*b.Dy() {
		t.Fatalf("canvas has %d pixels, the image %dx%d", len(canvas), b.Dx(), b.Dy())
	}
	wrong := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			if int(r>>8) != canvas[y*b.Dx()+x] {
				wrong++
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d canvas pixels differ from the file the client wrote", wrong, len(canvas))
	}
}
