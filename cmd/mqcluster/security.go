package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqcluster/mqcluster/auth"
	"github.com/mqcluster/mqcluster/broker"
	"github.com/mqcluster/mqcluster/client"
	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/transport/mqtt"
)

// Environment variables that hold secrets, so that they stay out of `ps`.
const (
	envPassword = "MQCLUSTER_PASSWORD"  // the MQTT password of a worker or coordinator
	envAPIToken = "MQCLUSTER_API_TOKEN" // the HTTP API's bearer token
)

// mqttClientFlags log a worker or a coordinator in to a broker.
type mqttClientFlags struct {
	ca, cert, key string
	username      string
	passwordFile  string
}

func (f *mqttClientFlags) register(cmd *cobra.Command, defaultUser string) {
	fs := cmd.Flags()
	fs.StringVar(&f.ca, "ca", "", "PEM file of the certificate authority that signed the broker's certificate, for an ssl:// broker")
	fs.StringVar(&f.cert, "cert", "", "PEM file of this client's certificate, for mutual TLS")
	fs.StringVar(&f.key, "key", "", "PEM file of the key of --cert")
	fs.StringVar(&f.username, "username", "", "MQTT user name (default with a password: "+defaultUser+")")
	fs.StringVar(&f.passwordFile, "password-file", "", "file whose first line is the MQTT password (or set "+envPassword+")")
}

// credentials returns the MQTT credentials for broker; defaultUser is the
// user name when a password is given without one. It warns on log about
// a password that would cross the network in clear.
func (f *mqttClientFlags) credentials(defaultUser, broker string, log *slog.Logger) (mqtt.Credentials, error) {
	if f.passwordFile != "" && os.Getenv(envPassword) != "" {
		return mqtt.Credentials{}, fmt.Errorf("--password-file and %s are both set: keep one, so that it is clear which password is used", envPassword)
	}
	password, err := secret(f.passwordFile, envPassword, "--password-file")
	if err != nil {
		return mqtt.Credentials{}, err
	}
	warnLooseFile(f.passwordFile, "--password-file", log)
	creds := mqtt.Credentials{Username: f.username, Password: password}
	if creds.Username == "" && password != "" {
		creds.Username = defaultUser
	}
	normal, _ := mqtt.BrokerURL(broker)
	if u, err := url.Parse(normal); err == nil && password != "" && u.Scheme == "tcp" && !isLoopback(u.Host) {
		log.Warn("the MQTT password will cross the network in clear: use ssl:// with --ca", "broker", broker)
	}
	if f.ca == "" && f.cert == "" {
		return creds, nil
	}
	creds.TLS, err = clientTLS(f.ca, "--ca", f.cert, f.key)
	return creds, err
}

// clientTLS returns a TLS config that trusts the authority in caFile, given
// with caFlag (the system's if empty), and presents certFile and keyFile if
// given.
func clientTLS(caFile, caFlag, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadPool(caFile, caFlag)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--cert and --key go together: give both for mutual TLS, or neither")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert %s, --key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func loadPool(file, flag string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in the file", flag, file)
	}
	return pool, nil
}

// secret reads a secret from the first line of file, or else from the
// environment variable env. It never returns the file's content in an
// error.
func secret(file, env, flag string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s %s: the first line is empty", flag, file)
	}
	return line, nil
}

// warnLooseFile warns on log if the secret file path, given with flag, is
// readable by other users.
func warnLooseFile(path, flag string, log *slog.Logger) {
	if path == "" {
		return
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		log.Warn("a secret file is readable by other users: chmod 600 it", "flag", flag, "path", path,
			"mode", info.Mode().Perm().String())
	}
}

// serverFlags secure what `up` and `coordinator` serve: the embedded
// broker and the HTTP API.
type serverFlags struct {
	users           string
	tlsCert, tlsKey string
	clientCA        string
	apiTokenFile    string
	insecure        bool
	maxPacket       uint32
	maxConnsPerAddr int
}

func (f *serverFlags) register(cmd *cobra.Command, embeddedBroker bool) {
	fs := cmd.Flags()
	what := "the HTTP API"
	if embeddedBroker {
		what = "the embedded broker and the HTTP API"
		fs.StringVar(&f.users, "users", "", "password file of the embedded broker; make it with: mqcluster user add")
		fs.StringVar(&f.clientCA, "client-ca", "", "PEM file of the authority whose client certificates the embedded broker accepts (mutual TLS)")
		fs.Uint32Var(&f.maxPacket, "max-packet", broker.DefaultMaxPacketSize, "largest MQTT packet a client may send to the embedded broker, in bytes")
		fs.IntVar(&f.maxConnsPerAddr, "max-conns-per-addr", broker.DefaultMaxConnsPerAddr, "most connections to the embedded broker from one IP address")
	}
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate with which "+what+" serve TLS; make one with: mqcluster certs init")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&f.apiTokenFile, "api-token-file", "", "file whose first line is the bearer token the HTTP API requires (or set "+envAPIToken+")")
	fs.BoolVar(&f.insecure, "insecure", false, "allow listening on a non-loopback address with no credentials, so that anyone on the network gets in")
}

// serverTLS returns the TLS config of --tls-cert and --tls-key, or nil.
// With --client-ca it also verifies client certificates.
func (f *serverFlags) serverTLS() (*tls.Config, error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together: give both, or neither")
	}
	if f.tlsCert == "" {
		if f.clientCA != "" {
			return nil, errors.New("--client-ca needs TLS: give --tls-cert and --tls-key too")
		}
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if f.clientCA != "" {
		if cfg.ClientCAs, err = loadPool(f.clientCA, "--client-ca"); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// brokerOptions returns the security of the embedded broker listening on
// addr. It refuses an open broker on a non-loopback address.
func (f *serverFlags) brokerOptions(addr string, tlsConfig *tls.Config) (broker.Options, error) {
	opts := broker.Options{TLS: tlsConfig, MaxPacketSize: f.maxPacket, MaxConnsPerAddr: f.maxConnsPerAddr}
	if f.users != "" {
		users, err := auth.LoadUsers(f.users)
		if err != nil {
			return opts, fmt.Errorf("--users: %w", err)
		}
		opts.Users = users
	}
	if !opts.Secured() && !isLoopback(addr) && !f.insecure {
		return opts, fmt.Errorf("--broker-addr %s is reachable from the network and the broker has no credentials: "+
			"give --users FILE (make it with `mqcluster user add`) or --client-ca FILE with --tls-cert and --tls-key, "+
			"or --insecure to let anyone on the network in", addr)
	}
	return opts, nil
}

// apiToken returns the API token, and refuses an open API on a
// non-loopback address.
func (f *serverFlags) apiToken(addr string, log *slog.Logger) (string, error) {
	token, err := secret(f.apiTokenFile, envAPIToken, "--api-token-file")
	if err != nil {
		return "", err
	}
	warnLooseFile(f.apiTokenFile, "--api-token-file", log)
	if token == "" && !isLoopback(addr) && !f.insecure {
		return "", fmt.Errorf("--api-addr %s is reachable from the network and the API has no token: "+
			"give --api-token-file FILE or set %s, or --insecure to let anyone on the network in", addr, envAPIToken)
	}
	return token, nil
}

// isLoopback reports whether addr, a host:port, listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiClientFlags reach a coordinator whose API needs a token or HTTPS.
type apiClientFlags struct {
	tokenFile string
	ca        string
}

func (f *apiClientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file whose first line is the API token (or set "+envAPIToken+")")
	cmd.Flags().StringVar(&f.ca, "api-ca", "", "PEM file of the authority that signed the API's certificate, for an https:// server")
}

func (f *apiClientFlags) client(server string) (*client.Client, error) {
	token, err := secret(f.tokenFile, envAPIToken, "--token-file")
	if err != nil {
		return nil, err
	}
	var hc *http.Client
	if f.ca != "" {
		cfg, err := clientTLS(f.ca, "--api-ca", "", "")
		if err != nil {
			return nil, err
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	c, err := client.New(server, hc)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	c.Token = token
	return c, nil
}

// secureUp sets the security of `up`: the embedded broker's accounts and
// TLS, or the credentials for an external --broker, and the API's token
// and TLS.
func (f *serverFlags) secureUp(opts *cluster.Options, mf *mqttClientFlags, log *slog.Logger) error {
	tlsConfig, err := f.serverTLS()
	if err != nil {
		return err
	}
	opts.APITLS = tlsConfig
	if opts.Coordinator.APIToken, err = f.apiToken(opts.APIAddr, log); err != nil {
		return err
	}
	if opts.BrokerURL != "" {
		opts.Credentials, err = mf.credentials("coordinator", opts.BrokerURL, log)
		return err
	}
	if opts.Broker, err = f.brokerOptions(opts.BrokerAddr, tlsConfig); err != nil {
		return err
	}
	if opts.Broker.Users != nil && tlsConfig == nil && !isLoopback(opts.BrokerAddr) {
		log.Warn("the broker takes passwords without TLS on a network address, so they cross the network in clear: "+
			"give --tls-cert and --tls-key", "broker_addr", opts.BrokerAddr)
	}
	if opts.Coordinator.APIToken != "" && tlsConfig == nil && !isLoopback(opts.APIAddr) {
		log.Warn("the API takes its token without TLS on a network address: give --tls-cert and --tls-key", "api_addr", opts.APIAddr)
	}
	return nil
}
