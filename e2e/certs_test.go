package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readCert parses the one PEM certificate in the file at path.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(readFile(t, path))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		t.Errorf("%s holds more than one PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cert
}

// checkMode fails the test unless the file at path has exactly mode.
func checkMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != mode {
		t.Errorf("%s has mode %v, want %v", path, info.Mode().Perm(), mode)
	}
}

// checkValidFor fails the test unless cert is valid now and its validity
// period, from NotBefore to NotAfter, is days long.
func checkValidFor(t *testing.T, name string, cert *x509.Certificate, days int) {
	t.Helper()
	if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		t.Errorf("%s is valid from %v to %v, not now", name, cert.NotBefore, cert.NotAfter)
	}
	period := cert.NotAfter.Sub(cert.NotBefore)
	want := time.Duration(days) * 24 * time.Hour
	if diff := period - want; diff < -time.Minute || diff > time.Minute {
		t.Errorf("%s is valid for %v, want %v (%d days)", name, period, want, days)
	}
}

// runCertsCLI runs `mqcluster certs ARGS`, fails the test unless it exits 0,
// and returns its output lines.
func runCertsCLI(t *testing.T, args ...string) []string {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"certs"}, args...)...)
	if code != 0 {
		t.Fatalf("mqcluster certs %s: exit code %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	return strings.Split(strings.TrimSpace(stdout), "\n")
}

// checkWrote fails the test unless lines start with one "wrote PATH" line
// for each path and end with one "next:" line.
func checkWrote(t *testing.T, lines []string, paths ...string) {
	t.Helper()
	if len(lines) != len(paths)+1 {
		t.Fatalf("output has %d lines, want %d:\n%s", len(lines), len(paths)+1, strings.Join(lines, "\n"))
	}
	for i, path := range paths {
		if !strings.HasPrefix(lines[i], "wrote "+path+":") {
			t.Errorf("line %d is %q, want it to start with %q", i+1, lines[i], "wrote "+path+":")
		}
	}
	if !strings.HasPrefix(lines[len(paths)], "next: ") {
		t.Errorf("last line is %q, want the next step", lines[len(paths)])
	}
}

// certs init, node and coordinator write an authority, a server certificate
// and client certificates that crypto/x509 verifies, with private keys
// readable by their owner only.
func TestCertsCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs") // created by certs init
	path := func(name string) string { return filepath.Join(dir, name) }

	lines := runCertsCLI(t, "init", "--dir", dir, "--host", "broker.test", "--host", "10.1.2.3,fd00::1")
	checkWrote(t, lines, path("ca.pem"), path("ca-key.pem"), path("server.pem"), path("server-key.pem"))
	for _, name := range []string{"ca.pem", "server.pem"} {
		checkMode(t, path(name), 0o644)
	}
	for _, name := range []string{"ca-key.pem", "server-key.pem"} {
		checkMode(t, path(name), 0o600)
	}
	ca := readCert(t, path("ca.pem"))
	if !ca.IsCA {
		t.Error("ca.pem is not a certificate authority")
	}
	checkValidFor(t, "ca.pem", ca, 3650)
	if _, err := tls.LoadX509KeyPair(path("ca.pem"), path("ca-key.pem")); err != nil {
		t.Errorf("ca-key.pem is not the key of ca.pem: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	server := readCert(t, path("server.pem"))
	checkValidFor(t, "server.pem", server, 825)
	if _, err := tls.LoadX509KeyPair(path("server.pem"), path("server-key.pem")); err != nil {
		t.Errorf("server-key.pem is not the key of server.pem: %v", err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "broker.test", "10.1.2.3", "fd00::1"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := server.Verify(opts); err != nil {
			t.Errorf("server.pem for %s: %v", host, err)
		}
	}
	if _, err := server.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.test"}); err == nil {
		t.Error("server.pem verified for other.test, a host it does not name")
	}

	clients := []struct {
		args             []string
		file, name, role string
		days             int
	}{
		{[]string{"node", "a4:cf:12:0b:3e:01"}, "a4-cf-12-0b-3e-01", "a4:cf:12:0b:3e:01", "node", 825},
		{[]string{"node", "rpi-kitchen", "--days", "30"}, "rpi-kitchen", "rpi-kitchen", "node", 30},
		{[]string{"coordinator"}, "coordinator", "coordinator", "coordinator", 825},
		{[]string{"coordinator", "backup-coordinator"}, "backup-coordinator", "backup-coordinator", "coordinator", 825},
	}
	for _, c := range clients {
		certFile, keyFile := path(c.file+".pem"), path(c.file+"-key.pem")
		lines := runCertsCLI(t, append(c.args, "--dir", dir)...)
		checkWrote(t, lines, certFile, keyFile)
		checkMode(t, certFile, 0o644)
		checkMode(t, keyFile, 0o600)
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			t.Errorf("%s is not the key of %s: %v", keyFile, certFile, err)
		}
		cert := readCert(t, certFile)
		opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if _, err := cert.Verify(opts); err != nil {
			t.Errorf("%s as a client certificate: %v", certFile, err)
		}
		if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			t.Errorf("%s: extended key usages %v lack client authentication", certFile, cert.ExtKeyUsage)
		}
		if cert.Subject.CommonName != c.name {
			t.Errorf("%s: CN %q, want %q", certFile, cert.Subject.CommonName, c.name)
		}
		if !slices.Equal(cert.Subject.OrganizationalUnit, []string{c.role}) {
			t.Errorf("%s: OU %q, want [%q]", certFile, cert.Subject.OrganizationalUnit, c.role)
		}
		checkValidFor(t, certFile, cert, c.days)
	}
}

// No certs command replaces a file: the error names the file, and the
// files already there keep their content.
func TestCertsRejectsOverwrite(t *testing.T) {
	dir := t.TempDir()
	runCertsCLI(t, "init", "--dir", dir)
	runCertsCLI(t, "node", "n1", "--dir", dir)
	before := map[string][]byte{}
	for _, name := range []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "n1.pem", "n1-key.pem"} {
		before[name] = readFile(t, filepath.Join(dir, name))
	}

	tests := []struct {
		args     []string
		wantFile string
	}{
		{[]string{"init", "--dir", dir}, filepath.Join(dir, "ca.pem")},
		{[]string{"node", "n1", "--dir", dir}, filepath.Join(dir, "n1.pem")},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append([]string{"certs"}, tt.args...)...)
		if code == 0 {
			t.Errorf("certs %s: exit code 0, want non-zero", strings.Join(tt.args, " "))
		}
		if !strings.Contains(stderr, tt.wantFile+" already exists") {
			t.Errorf("certs %s: stderr %q does not name %s", strings.Join(tt.args, " "), stderr, tt.wantFile)
		}
		if !strings.Contains(stderr, "another --dir") {
			t.Errorf("certs %s: stderr %q does not suggest another --dir", strings.Join(tt.args, " "), stderr)
		}
	}
	for name, data := range before {
		if got := readFile(t, filepath.Join(dir, name)); string(got) != string(data) {
			t.Errorf("%s changed", name)
		}
	}

	// One file of init already there: init writes none of the others.
	partial := t.TempDir()
	writeFile(t, filepath.Join(partial, "server-key.pem"), "someone's key\n", 0o600)
	if code, _, stderr := runCLI(t, "certs", "init", "--dir", partial); code == 0 || !strings.Contains(stderr, "server-key.pem") {
		t.Errorf("certs init with server-key.pem present: exit code %d, stderr %q; want a failure naming server-key.pem", code, stderr)
	}
	if names := fileNames(t, partial); len(names) != 1 {
		t.Errorf("certs init wrote files next to an existing server-key.pem: the directory holds %v", names)
	}
}

// Invalid node ids, coordinator names, flags and a missing authority are
// rejected with an error that names the value, and no file is written.
func TestCertsRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	runCertsCLI(t, "init", "--dir", dir)
	empty := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"node id with a slash", []string{"node", "bad/id", "--dir", dir}, `"bad/id"`},
		{"node id with a space", []string{"node", "has space", "--dir", dir}, `"has space"`},
		{"empty node id", []string{"node", "", "--dir", dir}, `node id ""`},
		{"node id of 65 characters", []string{"node", strings.Repeat("x", 65), "--dir", dir}, strings.Repeat("x", 65)},
		{"node named coordinator", []string{"node", "coordinator", "--dir", dir}, `"coordinator"`},
		{"node named ca", []string{"node", "ca", "--dir", dir}, "ca.pem"},
		{"no node id", []string{"node", "--dir", dir}, "expected one node ID"},
		{"coordinator name with a colon", []string{"coordinator", "a:b", "--dir", dir}, `"a:b"`},
		{"missing --dir", []string{"node", "n1"}, "--dir is missing"},
		{"no authority", []string{"node", "n1", "--dir", empty}, "certs init --dir " + empty},
		{"zero days", []string{"node", "n1", "--dir", dir, "--days", "0"}, "--days 0"},
		{"certificate outliving its authority", []string{"node", "n1", "--dir", dir, "--days", "4000"}, "outlive"},
		{"server outliving its authority", []string{"init", "--dir", empty, "--days", "4000"}, "--ca-days"},
		{"bad host", []string{"init", "--dir", empty, "--host", "a b"}, `--host "a b"`},
		{"no subcommand", nil, "init, node or coordinator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"certs"}, tt.args...)...)
			if code == 0 {
				t.Fatal("exit code 0, want non-zero")
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantErr)
			}
		})
	}
	if names := fileNames(t, dir); len(names) != 4 {
		t.Errorf("%s holds %v, want only the 4 files of certs init", dir, names)
	}
	if names := fileNames(t, empty); len(names) != 0 {
		t.Errorf("%s holds %v, want nothing", empty, names)
	}
}

func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
