package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RequireMosquittoEnv, when set to 1, turns a missing mosquitto binary from a
// skipped test into a failed one. The test command of the README sets it,
// since it installs Mosquitto first.
const RequireMosquittoEnv = "MQC_REQUIRE_MOSQUITTO"

// Mosquitto is a mosquitto broker process started by a test.
type Mosquitto struct {
	URL  string
	Addr string
	cmd  *exec.Cmd
	out  io.WriteCloser
	conf string
	t    testing.TB
}

// StartMosquitto starts Debian's mosquitto on a free loopback port and stops
// it when the test ends. The config sets set_tcp_nodelay, without which
// mosquitto delays small packets by about 40 ms.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	MosquittoProgram(t, "mosquitto")
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\nlog_type error\nlog_type warning\n", port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{URL: "tcp://" + addr, Addr: addr, conf: conf, t: t}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// MosquittoProgram returns the path of name, a program of Debian's
// mosquitto package such as mosquitto or mosquitto_passwd. Without it the
// test is skipped, or fails if RequireMosquittoEnv is 1.
func MosquittoProgram(t testing.TB, name string) string {
	t.Helper()
	if p := programPath(name); p != "" {
		return p
	}
	if os.Getenv(RequireMosquittoEnv) == "1" {
		t.Fatalf("%s not found and %s=1: install it with apt-get install mosquitto", name, RequireMosquittoEnv)
	}
	t.Skipf("%s not installed (apt-get install mosquitto); skipping", name)
	return ""
}

// programPath looks for name on the PATH and in the sbin and bin folders,
// which a user's PATH may leave out.
func programPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// StartMosquittoConfig starts mosquitto with the config file conf, waits
// until each of addrs accepts connections, and stops it when the test
// ends.
func StartMosquittoConfig(t testing.TB, conf string, addrs ...string) {
	t.Helper()
	cmd := exec.Command(MosquittoProgram(t, "mosquitto"), "-c", conf)
	out := LogWriter(t, "mosquitto")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		out.Close()
	})
	for _, addr := range addrs {
		WaitListening(t, addr, 5*time.Second)
	}
}

// AddMosquittoUsers adds each user with a random password to the
// Mosquitto password file at path, and returns the passwords by user.
func AddMosquittoUsers(t testing.TB, path string, users ...string) map[string]string {
	t.Helper()
	passwd := MosquittoProgram(t, "mosquitto_passwd")
	passwords := map[string]string{}
	for _, user := range users {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		passwords[user] = hex.EncodeToString(b)
		if out, err := exec.Command(passwd, "-b", path, user, passwords[user]).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd -b %s %s: %v\n%s", path, user, err, out)
		}
	}
	return passwords
}

// Start starts the broker process, after Stop too, on the same port.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.cmd = exec.Command(programPath("mosquitto"), "-c", m.conf)
	m.out = LogWriter(m.t, "mosquitto")
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	WaitListening(m.t, m.Addr, 5*time.Second)
}

// Stop kills the broker process and waits for it.
func (m *Mosquitto) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Kill()
	m.cmd.Wait()
	m.out.Close()
	m.cmd = nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitListening polls addr until it accepts a TCP connection.
func WaitListening(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
