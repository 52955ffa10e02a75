package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqcluster/mqcluster/certs"
	"github.com/mqcluster/mqcluster/protocol"
)

// Default validities. 825 days is the longest validity that iOS 13 and
// macOS 10.15 and later accept for a TLS server certificate (Apple's
// "Requirements for trusted certificates in iOS 13 and macOS 10.15"), and
// the client certificates use it too.
const (
	defaultCADays   = 10 * 365
	defaultCertDays = 825
)

// File names in the --dir of `certs`.
const (
	caCertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
)

// initFiles are the files that `certs init` writes.
var initFiles = []string{caCertFile, caKeyFile, serverCertFile, serverKeyFile}

// File modes: keys are readable by their owner only.
const (
	certMode fs.FileMode = 0o644
	keyMode  fs.FileMode = 0o600
)

func newCertsCommand(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make the TLS certificates of a secured cluster: an authority, the broker's and each client's",
		Long: `Make the TLS certificates of a secured cluster. "certs init" makes a
certificate authority and the broker's server certificate; "certs node" and
"certs coordinator" make client certificates, signed by that authority, for
mutual TLS. A client certificate names its node id or coordinator name in
its common name (CN) and its role in its organizational unit (OU).

Keys are ECDSA P-256. No command overwrites an existing file.`,
		Example: `  mqcluster certs init --dir certs --host broker.lan --host 192.168.1.10
  mqcluster certs node a4:cf:12:0b:3e:01 --dir certs
  mqcluster certs coordinator --dir certs`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("certs needs a command: init, node or coordinator (see mqcluster certs --help)")
		},
	}
	cmd.AddCommand(newCertsInitCommand(), newCertsNodeCommand(), newCertsCoordinatorCommand())
	return cmd
}

func newCertsInitCommand() *cobra.Command {
	var dir string
	var hosts []string
	var days, caDays int
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Make a certificate authority and the broker's server certificate",
		Long: `Make a certificate authority and a server certificate for the broker and
the HTTP API, and write them to DIR:

  ca.pem          the authority's certificate, which every client trusts
  ca-key.pem      the authority's private key, which signs the other certificates
  server.pem      the server certificate
  server-key.pem  the server certificate's private key

The server certificate names localhost and 127.0.0.1 and every --host, so
clients can reach the server under those names only. DIR is created if
missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDir(dir); err != nil {
				return err
			}
			if err := checkDays("--ca-days", caDays); err != nil {
				return err
			}
			if err := checkDays("--days", days); err != nil {
				return err
			}
			if days > caDays {
				return fmt.Errorf("--days %d is more than --ca-days %d: the server certificate cannot outlive its authority", days, caDays)
			}
			serverHosts, err := serverHosts(hosts)
			if err != nil {
				return err
			}
			if err := checkAbsent(dir, initFiles); err != nil {
				return err
			}

			caUntil := validUntil(caDays)
			ca, err := certs.NewAuthority("mqcluster CA", caUntil)
			if err != nil {
				return fmt.Errorf("make the certificate authority: %w", err)
			}
			caKey, err := ca.KeyPEM()
			if err != nil {
				return fmt.Errorf("encode the authority's key: %w", err)
			}
			serverUntil := validUntil(days)
			serverCert, serverKey, err := ca.Server(serverHosts, serverUntil)
			if err != nil {
				return fmt.Errorf("make the server certificate: %w", err)
			}
			err = writeFiles(dir, []outputFile{
				{caCertFile, ca.CertPEM(), certMode},
				{caKeyFile, caKey, keyMode},
				{serverCertFile, serverCert, certMode},
				{serverKeyFile, serverKey, keyMode},
			})
			if err != nil {
				return err
			}

			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s: certificate authority, valid until %s\n", filepath.Join(dir, caCertFile), date(caUntil))
			fmt.Fprintf(out, "wrote %s: the authority's private key; keep it secret, and off the broker and the nodes\n", filepath.Join(dir, caKeyFile))
			fmt.Fprintf(out, "wrote %s: server certificate for %s, valid until %s\n", filepath.Join(dir, serverCertFile),
				strings.Join(serverHosts, ", "), date(serverUntil))
			fmt.Fprintf(out, "wrote %s: the server certificate's private key\n", filepath.Join(dir, serverKeyFile))
			fmt.Fprintf(out, "next: give the broker %s and %s, give every client %s, and make client certificates with `mqcluster certs node ID --dir %s`\n",
				filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile), filepath.Join(dir, caCertFile), dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory to write the files to (required)")
	f.StringSliceVar(&hosts, "host", nil, "DNS name or IP address by which clients reach the broker, besides localhost and 127.0.0.1; repeat it or separate with commas")
	f.IntVar(&days, "days", defaultCertDays, "validity of the server certificate, in days")
	f.IntVar(&caDays, "ca-days", defaultCADays, "validity of the certificate authority, in days")
	return cmd
}

func newCertsNodeCommand() *cobra.Command {
	var f clientCertFlags
	cmd := &cobra.Command{
		Use:   "node ID --dir DIR",
		Short: "Make a node's client certificate, signed by the authority in DIR",
		Long: `Make a client certificate for the node ID, with role node, signed by the
authority that "certs init" wrote to DIR, and write DIR/ID.pem and
DIR/ID-key.pem. ID is the node id (1 to 64 letters, digits and . _ : -),
such as a4:cf:12:0b:3e:01; in the file names each ':' becomes '-', so that
node is written to a4-cf-12-0b-3e-01.pem and a4-cf-12-0b-3e-01-key.pem.

The id "coordinator" is rejected: a broker such as Mosquitto that takes the
common name as the user name would give that node the coordinator's rights.`,
		Example: `  mqcluster certs node rpi-kitchen --dir certs
  mqcluster certs node a4:cf:12:0b:3e:01 --dir certs --days 365`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("expected one node ID, got %d argument(s): mqcluster certs node ID --dir DIR", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := protocol.ValidateNodeID(id); err != nil {
				return err
			}
			if id == certs.RoleCoordinator {
				return fmt.Errorf("node id %q is the coordinator's default name, which Mosquitto's ACL gives the coordinator's rights: choose another id", id)
			}
			return f.run(cmd.OutOrStdout(), id, certs.RoleNode)
		},
	}
	f.register(cmd)
	return cmd
}

func newCertsCoordinatorCommand() *cobra.Command {
	var f clientCertFlags
	cmd := &cobra.Command{
		Use:   "coordinator [NAME] --dir DIR",
		Short: "Make the coordinator's client certificate, signed by the authority in DIR",
		Long: `Make a client certificate for the coordinator NAME (default "coordinator"),
with role coordinator, signed by the authority that "certs init" wrote to
DIR, and write DIR/NAME.pem and DIR/NAME-key.pem. NAME is 1 to 64 letters,
digits and . _ -.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("expected at most one coordinator NAME, got %d arguments: mqcluster certs coordinator [NAME] --dir DIR", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name := certs.RoleCoordinator
			if len(args) == 1 {
				name = args[0]
			}
			if err := protocol.ValidateNodeID(name); err != nil || strings.Contains(name, ":") {
				return fmt.Errorf("coordinator name %q is invalid: use 1 to %d letters, digits and . _ -", name, protocol.MaxIDLen)
			}
			return f.run(cmd.OutOrStdout(), name, certs.RoleCoordinator)
		},
	}
	f.register(cmd)
	return cmd
}

// clientCertFlags are the flags of `certs node` and `certs coordinator`.
type clientCertFlags struct {
	dir  string
	days int
}

func (f *clientCertFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "dir", "", "directory of the authority's ca.pem and ca-key.pem, and of the new files (required)")
	cmd.Flags().IntVar(&f.days, "days", defaultCertDays, "validity of the certificate, in days")
}

// run makes the client certificate of name with role and writes it next to
// the authority.
func (f *clientCertFlags) run(out io.Writer, name, role string) error {
	if err := checkDir(f.dir); err != nil {
		return err
	}
	if err := checkDays("--days", f.days); err != nil {
		return err
	}
	base := strings.ReplaceAll(name, ":", "-")
	certFile, keyFile := base+".pem", base+"-key.pem"
	if slices.Contains(initFiles, certFile) || slices.Contains(initFiles, keyFile) {
		return fmt.Errorf("%s %q would write to %s or %s, the files of `certs init`: choose another name", role, name, certFile, keyFile)
	}
	if err := checkAbsent(f.dir, []string{certFile, keyFile}); err != nil {
		return err
	}
	ca, err := certs.LoadAuthority(filepath.Join(f.dir, caCertFile), filepath.Join(f.dir, caKeyFile))
	if err != nil {
		return fmt.Errorf("load the certificate authority: %w (make it with `mqcluster certs init --dir %s`)", err, f.dir)
	}
	until := validUntil(f.days)
	caUntil, err := notAfter(ca.CertPEM())
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(f.dir, caCertFile), err)
	}
	if until.After(caUntil) {
		return fmt.Errorf("--days %d: the certificate would outlive its authority, which is valid until %s; give fewer days",
			f.days, date(caUntil))
	}
	cert, key, err := ca.Client(name, role, until)
	if err != nil {
		return fmt.Errorf("make the client certificate of %s %s: %w", role, name, err)
	}
	if err := writeFiles(f.dir, []outputFile{{certFile, cert, certMode}, {keyFile, key, keyMode}}); err != nil {
		return err
	}

	certPath, keyPath := filepath.Join(f.dir, certFile), filepath.Join(f.dir, keyFile)
	fmt.Fprintf(out, "wrote %s: client certificate with CN %s and OU %s, valid until %s\n", certPath, name, role, date(until))
	fmt.Fprintf(out, "wrote %s: its private key\n", keyPath)
	fmt.Fprintf(out, "next: copy %s, %s and %s to the %s, which connects with --ca %s --cert %s --key %s\n",
		certPath, keyPath, filepath.Join(f.dir, caCertFile), role, caCertFile, certFile, keyFile)
	return nil
}

// serverHosts returns localhost, 127.0.0.1 and the --host values, without
// repeats.
func serverHosts(extra []string) ([]string, error) {
	hosts := []string{"localhost", "127.0.0.1"}
	for _, h := range extra {
		h = strings.TrimSpace(h)
		if net.ParseIP(h) == nil && !isDNSName(h) {
			return nil, fmt.Errorf("--host %q is not a DNS name or an IP address", h)
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// isDNSName reports whether name is made of letters, digits, '-' and '.',
// with a '*' allowed as a wildcard.
func isDNSName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-.*", r)
		if !ok {
			return false
		}
	}
	return true
}

func checkDir(dir string) error {
	if dir == "" {
		return errors.New("--dir is missing: give the directory of the certificates, such as --dir certs")
	}
	return nil
}

func checkDays(flag string, days int) error {
	if days < 1 {
		return fmt.Errorf("%s %d is not a positive number of days", flag, days)
	}
	return nil
}

// checkAbsent returns an error naming the first of files that exists in dir.
func checkAbsent(dir string, files []string) error {
	for _, name := range files {
		path := filepath.Join(dir, name)
		_, err := os.Lstat(path)
		if err == nil {
			return fmt.Errorf("%s already exists: use another --dir, or remove it first", path)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", path, err)
		}
	}
	return nil
}

type outputFile struct {
	name string
	data []byte
	mode fs.FileMode
}

// writeFiles creates dir if missing and writes files into it, none of
// which may exist yet. If one fails, it removes those it wrote.
func writeFiles(dir string, files []outputFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create --dir %s: %w", dir, err)
	}
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := writeNew(path, f.data, f.mode); err != nil {
			for _, p := range written {
				os.Remove(p)
			}
			return err
		}
		written = append(written, path)
	}
	return nil
}

// writeNew writes data to a new file at path with exactly mode, whatever
// the umask.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists: use another --dir, or remove it first", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = file.Write(data)
	if err == nil {
		err = file.Chmod(mode)
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// notAfter returns the end of validity of the PEM certificate certPEM.
func notAfter(certPEM []byte) (time.Time, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return time.Time{}, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return cert.NotAfter, nil
}

// validUntil returns the NotAfter of a certificate valid for days. The certs
// package sets NotBefore an hour before now, so NotAfter is an hour short of
// days from now, and the validity period, which Apple measures from
// NotBefore to NotAfter, is exactly days.
func validUntil(days int) time.Time {
	return time.Now().Add(time.Duration(days)*24*time.Hour - time.Hour)
}

func date(t time.Time) string { return t.UTC().Format(time.DateOnly) }
