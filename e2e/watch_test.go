package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcluster/mqcluster/internal/testenv"
)

// `nodes --watch` prints the table again every interval until Ctrl-C.
func TestNodesWatch(t *testing.T) {
	tc := startCluster(t, "")
	startWorker(t, tc.BrokerURL, "watched")
	watch := testenv.StartProcess(t, "watch", "nodes", "--watch", "--interval", "200ms", "--server", tc.APIURL)
	waitFor(t, 10*time.Second, "three tables with the node", func() bool {
		n := 0
		for _, line := range watch.Output() {
			if strings.HasPrefix(line, "watched ") {
				n++
			}
		}
		return n >= 3
	})
	watch.Signal(syscall.SIGINT)
	select {
	case <-watch.Done():
		if code := watch.Cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after SIGINT, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nodes --watch still running 5s after SIGINT")
	}
}
