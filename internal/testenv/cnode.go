package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// RequireFirmwareEnv, when set to 1, turns a POSIX node that cannot be built
// (no cmake, compiler or libpaho-mqtt-dev) from a skipped test into a failed
// one. The README's test command sets it, since it installs them first.
const RequireFirmwareEnv = "MQC_REQUIRE_FIRMWARE"

var (
	nodeOnce sync.Once
	nodePath string
	nodeErr  error
)

// repoRoot returns the repository root, found from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CNode builds the firmware's POSIX node (firmware/posix) once with
// `make -C firmware node` and returns its path.
func CNode(t testing.TB) string {
	t.Helper()
	nodeOnce.Do(func() {
		cmd := exec.Command("make", "-s", "-C", filepath.Join(repoRoot(), "firmware"), "node")
		out, err := cmd.CombinedOutput()
		if err != nil {
			nodeErr = &buildError{err: err, out: string(out)}
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		nodePath = lines[len(lines)-1]
	})
	if nodeErr != nil {
		if os.Getenv(RequireFirmwareEnv) == "1" {
			t.Fatalf("build the POSIX node: %v", nodeErr)
		}
		t.Skipf("cannot build the POSIX node (apt-get install cmake gcc libpaho-mqtt-dev): %v", nodeErr)
	}
	return nodePath
}

// StartCNode runs the POSIX node with args; it is killed when the test ends.
func StartCNode(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return startCommand(t, name, exec.Command(CNode(t), args...))
}
