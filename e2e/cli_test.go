package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// runCLI runs the mqcluster binary to completion and returns its exit code
// and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCommand(t, testenv.Binary(t), args...)
}

// runCommand runs a program to completion and returns its exit code and output.
func runCommand(t *testing.T, program string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(program, args...)
	cmd.Env = testenv.RaceEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// The README's first command: one process, a throwaway cluster of 4 workers.
func TestGrayscaleLocalCommand(t *testing.T) {
	in := filepath.Join(imagesDir, "chelsea.png")
	out := filepath.Join(t.TempDir(), "chelsea-gray.png")
	code, stdout, stderr := runCLI(t, "image", "grayscale", "--local", "4", in, out)
	if code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr)
	}
	t.Logf("stdout: %s", stdout)
	if !strings.Contains(stdout, "on 4 nodes") {
		t.Errorf("stdout %q does not say the tiles ran on 4 nodes", stdout)
	}
	sameBytes(t, out, readFile(t, out), referenceOutput(t, in, ".png", 128, 128, imagejob.Luma))
}

func TestGrayscaleBadInputsSendNoTask(t *testing.T) {
	tc := startCluster(t, "")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	png := readFile(t, filepath.Join(imagesDir, "coffee.png"))
	tests := []struct {
		name, in, out, wantErr string
	}{
		{"empty file", write("empty.png", nil), "out.png", "empty"},
		{"not an image", write("notes.png", []byte("these are not pixels\n")), "out.png", "not a supported image"},
		{"truncated PNG", write("cut.png", png[:len(png)/2]), "out.png", "cut.png"},
		{"directory", dir, "out.png", "directory"},
		{"missing file", filepath.Join(dir, "missing.png"), "out.png", "no such file"},
		{"path through a file", filepath.Join(imagesDir, "coffee.png", "x.png"), "out.png", "not a directory"},
		{"absurd size", write("huge.png", hugePNGHeader()), "out.png", "limit"},
		{"unknown output format", filepath.Join(imagesDir, "coffee.png"), "out.bmp", ".bmp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.out)
			code, _, stderr := runCLI(t, "image", "grayscale", "--server", tc.APIURL, tt.in, out)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code == 0 {
				t.Fatalf("exit code 0, want non-zero")
			}
			if len(lines) != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", len(lines), stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantErr)
			}
			name := filepath.Base(tt.in)
			if tt.name == "unknown output format" {
				name = tt.out
			}
			if !strings.Contains(stderr, name) {
				t.Errorf("stderr %q does not name the file %q", stderr, name)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output %s was written", out)
			}
		})
	}
	if jobs := tc.Coordinator.Jobs(); len(jobs) != 0 {
		t.Errorf("coordinator got %d jobs from bad inputs, want none", len(jobs))
	}
}

func TestGrayscaleMissingOutputArgument(t *testing.T) {
	code, _, stderr := runCLI(t, "image", "grayscale", "in.png")
	if code == 0 {
		t.Fatalf("exit code 0, want non-zero")
	}
	if !strings.Contains(stderr, "expected IN and OUT, got 1 argument(s)") {
		t.Errorf("stderr %q does not name the missing argument", stderr)
	}
}

// hugePNGHeader returns a PNG signature and a valid IHDR chunk declaring
// 100000 x 100000 pixels, and no pixel data at all.
func hugePNGHeader() []byte {
	ihdr := []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0}
	return append([]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", ihdr)...)
}
