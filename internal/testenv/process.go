package testenv

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/mqcluster once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mqcluster-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mqcluster")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "github.com/mqcluster/mqcluster/cmd/mqcluster")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("build mqcluster: %v", buildErr)
	}
	return binPath
}

// RemoveBinary deletes the binary that Binary built, if any. Call it from
// TestMain after the tests ran.
func RemoveBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// RaceEnv is the environment for a race-enabled child process. The race
// runtime sleeps a second before exit by default, and the tests time how
// fast processes leave.
func RaceEnv() []string {
	return append(os.Environ(), "GORACE=atexit_sleep_ms=0")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// Process is a child process of a test.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{}

	mu     sync.Mutex
	output []string      // lines printed so far
	more   chan struct{} // closed and replaced when a line arrives
}

func (p *Process) addLine(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.output = append(p.output, line)
	close(p.more)
	p.more = make(chan struct{})
}

// Output returns the lines the process has printed so far.
func (p *Process) Output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.output...)
}

// WaitOutput waits until the process has printed a line containing text,
// and fails the test after timeout.
func (p *Process) WaitOutput(t testing.TB, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for seen := 0; ; {
		p.mu.Lock()
		lines, more := p.output[seen:], p.more
		seen = len(p.output)
		p.mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, text) {
				return
			}
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no output line containing %q after %v", text, timeout)
		}
	}
}

// StartProcess runs the mqcluster binary with args, its output going to the
// test log with name as prefix. It is killed when the test ends.
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = RaceEnv()
	return startCommand(t, name, cmd)
}

// startCommand starts cmd with its output in the test log, and kills it when
// the test ends.
func startCommand(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, done: make(chan struct{}), more: make(chan struct{})}
	out := logWriter(t, name, p.addLine)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Signal(syscall.SIGKILL)
		<-p.done
	})
	return p
}

// Signal sends sig to the process; a process that has exited is ignored.
func (p *Process) Signal(sig syscall.Signal) {
	p.Cmd.Process.Signal(sig)
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// LogWriter returns a writer whose lines go to the test log with a prefix.
// A data race reported by a race-enabled child process fails the test.
// Close it when the writing process has exited.
func LogWriter(t testing.TB, prefix string) io.WriteCloser {
	return logWriter(t, prefix, nil)
}

// logWriter is LogWriter that also passes each line to onLine, if set.
func logWriter(t testing.TB, prefix string, onLine func(string)) io.WriteCloser {
	r, w := io.Pipe()
	out := newTestWriter(t)
	go func() {
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		var race []string // the lines of a race report being read
		for s.Scan() {
			line := s.Text()
			out.Write([]byte(prefix + ": " + line + "\n"))
			if onLine != nil {
				onLine(line)
			}
			switch {
			case strings.Contains(line, "WARNING: DATA RACE"):
				race = []string{line}
			case race != nil && strings.HasPrefix(line, "=================="):
				if !knownUpstreamRace(race) {
					out.fail(prefix + ": the race detector found a data race; see the log above")
				}
				race = nil
			case race != nil:
				race = append(race, line)
			}
		}
		if race != nil && !knownUpstreamRace(race) {
			out.fail(prefix + ": the race detector found a data race; see the log above")
		}
	}()
	return w
}

// knownUpstreamRace reports whether a race report is the one inside
// paho.mqtt.golang v1.5.x that its issue #703 describes: resume() marks a
// stored publish as a duplicate while the outgoing goroutine writes it,
// after a reconnect. It touches none of our code; any other race fails the
// test.
func knownUpstreamRace(report []string) bool {
	text := strings.Join(report, "\n")
	return strings.Contains(text, "paho%2emqtt%2egolang.(*client).resume()") &&
		strings.Contains(text, "packets.(*FixedHeader).pack()") &&
		!strings.Contains(text, "github.com/mqcluster/mqcluster")
}
