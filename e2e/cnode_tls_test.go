package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqcluster/mqcluster/certs"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/protocol"
)

// The C node over TLS on Debian's Mosquitto: with a password, with a client
// certificate instead, and the failures a node must report and not get past.
func TestCNodeTLS(t *testing.T) {
	b := startTLSMosquitto(t)
	obs := observePresence(t, b, b.PasswordURL)

	t.Run("password file", func(t *testing.T) {
		id := "tls-file"
		pwFile := filepath.Join(t.TempDir(), "password")
		writeFile(t, pwFile, b.passwords[id]+"\n", 0o600)
		node := startCNode(t, b.PasswordURL, id, "--ca", b.CAFile, "--username", id, "--password-file", pwFile)

		obs.waitBirth(t, id, 10*time.Second)
		birth, retained := b.retainedPresence(t, id)
		if !retained {
			t.Errorf("presence of %s: not retained", id)
		}
		if birth == nil {
			t.Errorf("retained presence of %s: not a birth", id)
		}
		noSecretInOutput(t, node, b.passwords[id])
	})

	t.Run("password from environment", func(t *testing.T) {
		id := "tls-env"
		t.Setenv("MQC_PASSWORD", b.passwords[id])
		node := startCNode(t, b.PasswordURL, id, "--ca", b.CAFile, "--username", id)

		obs.waitBirth(t, id, 10*time.Second)
		noSecretInOutput(t, node, b.passwords[id])
	})

	t.Run("wrong password", func(t *testing.T) {
		id := "tls-wrong"
		wrong := "not-" + b.passwords[id]
		t.Setenv("MQC_PASSWORD", wrong)
		node := startCNode(t, b.PasswordURL, id, "--ca", b.CAFile, "--username", id)

		// Mosquitto rejects a wrong password with CONNACK 5, not authorized.
		waitOutputCount(t, node, "not authorized: check --username and MQC_PASSWORD", 2, 10*time.Second)
		obs.noBirth(t, id)
		noSecretInOutput(t, node, wrong)
	})

	t.Run("client certificate", func(t *testing.T) {
		id := "tls-mutual"
		dir := t.TempDir()
		cert, key, err := b.ca.Client(id, certs.RoleNode, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, "node.pem"), filepath.Join(dir, "node.key")
		writeFile(t, certFile, string(cert), 0o644)
		writeFile(t, keyFile, string(key), 0o600)
		startCNode(t, b.MutualURL, id, "--ca", b.CAFile, "--cert", certFile, "--key", keyFile)

		obs.waitBirth(t, id, 10*time.Second)
	})

	t.Run("no client certificate", func(t *testing.T) {
		id := "tls-no-cert"
		node := startCNode(t, b.MutualURL, id, "--ca", b.CAFile)

		waitOutputCount(t, node, "TLS handshake failed", 2, 10*time.Second)
		obs.noBirth(t, id)
	})

	t.Run("unknown authority", func(t *testing.T) {
		id := "tls-other-ca"
		other, err := certs.NewAuthority("other", time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		otherFile := filepath.Join(t.TempDir(), "other-ca.pem")
		writeFile(t, otherFile, string(other.CertPEM()), 0o644)
		t.Setenv("MQC_PASSWORD", b.passwords[id])
		node := startCNode(t, b.PasswordURL, id, "--ca", otherFile, "--username", id)

		node.WaitOutput(t, "certificate verify failed", 10*time.Second)
		waitOutputCount(t, node, "TLS handshake failed", 2, 10*time.Second)
		obs.noBirth(t, id)
	})

	t.Run("certificate for another host", func(t *testing.T) {
		id := "tls-wrong-host"
		t.Setenv("MQC_PASSWORD", b.passwords[id])
		node := startCNode(t, b.WrongHostURL, id, "--ca", b.CAFile, "--username", id)

		waitOutputCount(t, node, "TLS handshake failed", 2, 10*time.Second)
		obs.noBirth(t, id)
	})
}

// Flags that cannot work stop the node with exit code 2 and a message that
// names the fix, and never echo a password.
func TestCNodeTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, "hello\n", 0o644)
	emptyPassword := filepath.Join(dir, "empty")
	writeFile(t, emptyPassword, "\n", 0o600)
	const secret = "s3cret-on-the-command-line"

	for _, tt := range []struct {
		name string
		args []string
		env  string // MQC_PASSWORD
		want string
	}{
		{"password flag", []string{"--password", secret}, "", "set MQC_PASSWORD or use --password-file"},
		{"password flag with equals", []string{"--password=" + secret}, "", "set MQC_PASSWORD or use --password-file"},
		{"TLS without CA", []string{"--broker", "ssl://127.0.0.1:8883"}, "", "add --ca FILE"},
		{"mqtts without CA", []string{"--broker", "mqtts://127.0.0.1:8883"}, "", "add --ca FILE"},
		{"CA without TLS", []string{"--ca", notPEM}, "", "--ca needs a TLS broker URL"},
		{"CA not PEM", []string{"--broker", "ssl://127.0.0.1:8883", "--ca", notPEM}, "", "is not a PEM file"},
		{"CA missing", []string{"--broker", "ssl://127.0.0.1:8883", "--ca", filepath.Join(dir, "none.pem")}, "", "cannot read --ca"},
		{"cert without key", []string{"--broker", "ssl://127.0.0.1:8883", "--ca", "/dev/null", "--cert", notPEM}, "", "give both --cert and --key"},
		{"unknown scheme", []string{"--broker", "ws://127.0.0.1:8080"}, "", "invalid --broker ws://127.0.0.1:8080"},
		{"password without user", []string{}, secret, "no --username: add --username NAME"},
		{"password twice", []string{"--username", "u", "--password-file", emptyPassword}, secret, "use one of them"},
		{"empty password file", []string{"--username", "u", "--password-file", emptyPassword}, "", "is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("MQC_PASSWORD", tt.env)
			code, stdout, stderr := runCommand(t, testenv.CNode(t), append([]string{"--id", "flags"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("output contains the password:\n%s%s", stdout, stderr)
			}
		})
	}
}

// tlsMosquitto is a Mosquitto process with three TLS listeners on loopback.
// Every client needs a user name: nodes use their node id, and an ACL keeps
// each node on its own topics.
type tlsMosquitto struct {
	CAFile       string
	PasswordURL  string // a user name and password from the password file
	MutualURL    string // a client certificate, whose common name is the user name
	WrongHostURL string // a server certificate for broker.invalid only

	ca        *certs.Authority
	passwords map[string]string // user -> password
}

// Users of the password file. observer reads the presence of every node.
var tlsUsers = []string{"observer", "tls-file", "tls-env", "tls-wrong", "tls-other-ca", "tls-wrong-host"}

const tlsACL = `# The user name of a node is its node id.
pattern readwrite mqc/v1/default/nodes/%u/#
pattern read mqc/v1/default/coordinator/presence

user observer
topic read mqc/v1/default/nodes/+/presence
`

// startTLSMosquitto starts Mosquitto with a new authority, certificates and
// password file, and stops it when the test ends.
func startTLSMosquitto(t *testing.T) *tlsMosquitto {
	t.Helper()
	dir := t.TempDir()

	notAfter := time.Now().Add(time.Hour)
	ca, err := certs.NewAuthority("mqcluster test CA", notAfter)
	if err != nil {
		t.Fatal(err)
	}
	b := &tlsMosquitto{CAFile: filepath.Join(dir, "ca.pem"), ca: ca}
	writeFile(t, b.CAFile, string(ca.CertPEM()), 0o644)
	writeServerCert(t, ca, []string{"127.0.0.1", "localhost"}, filepath.Join(dir, "server"))
	writeServerCert(t, ca, []string{"broker.invalid"}, filepath.Join(dir, "wrong-host"))

	pwFile := filepath.Join(dir, "passwords")
	writeFile(t, pwFile, "", 0o600)
	b.passwords = testenv.AddMosquittoUsers(t, pwFile, tlsUsers...)
	aclFile := filepath.Join(dir, "acl")
	writeFile(t, aclFile, tlsACL, 0o644)

	addrs := []string{testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)}
	b.PasswordURL, b.MutualURL, b.WrongHostURL = "ssl://"+addrs[0], "ssl://"+addrs[1], "ssl://"+addrs[2]
	conf := filepath.Join(dir, "mosquitto.conf")
	writeFile(t, conf, tlsMosquittoConfig(t, dir, addrs), 0o644)

	testenv.StartMosquittoConfig(t, conf, addrs...)
	return b
}

func tlsMosquittoConfig(t *testing.T, dir string, addrs []string) string {
	var conf strings.Builder
	// Mosquitto started by root switches to the user named here, the
	// current one, which can read the test's private files. Started by
	// another user, it ignores the setting.
	fmt.Fprintf(&conf, "user %s\n", currentUser(t))
	fmt.Fprintf(&conf, "per_listener_settings false\nallow_anonymous false\n")
	fmt.Fprintf(&conf, "password_file %s\nacl_file %s\n", filepath.Join(dir, "passwords"), filepath.Join(dir, "acl"))
	fmt.Fprintf(&conf, "set_tcp_nodelay true\npersistence false\nlog_type error\nlog_type warning\nlog_type notice\n")
	listeners := []struct{ cert, extra string }{
		{"server", ""},
		{"server", "require_certificate true\nuse_identity_as_username true\n"},
		{"wrong-host", ""},
	}
	for i, l := range listeners {
		_, port, _ := net.SplitHostPort(addrs[i])
		fmt.Fprintf(&conf, "\nlistener %s 127.0.0.1\ncafile %s\ncertfile %s.pem\nkeyfile %s.key\n%s",
			port, filepath.Join(dir, "ca.pem"), filepath.Join(dir, l.cert), filepath.Join(dir, l.cert), l.extra)
	}
	return conf.String()
}

func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// writeServerCert writes a server certificate for hosts to base.pem and its
// key to base.key.
func writeServerCert(t *testing.T, ca *certs.Authority, hosts []string, base string) {
	t.Helper()
	cert, key, err := ca.Server(hosts, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, base+".pem", string(cert), 0o644)
	writeFile(t, base+".key", string(key), 0o600)
}

func writeFile(t *testing.T, path, text string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	// WriteFile applies the umask; the test needs perm itself.
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// connectTLS connects a Paho Go client to url as user, trusting only the
// test's authority, and disconnects it when the test ends.
func (b *tlsMosquitto) connectTLS(t *testing.T, url, clientID, user string) paho.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b.ca.CertPEM()) {
		t.Fatal("the authority's certificate does not parse")
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).
		SetUsername(user).SetPassword(b.passwords[user]).
		SetTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", clientID, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

// retainedPresence subscribes a new client to the presence topic of node id
// and returns the birth the broker keeps there, if the message is one, and
// whether it came as a retained message.
func (b *tlsMosquitto) retainedPresence(t *testing.T, id string) (*protocol.Birth, bool) {
	t.Helper()
	c := b.connectTLS(t, b.PasswordURL, "retained-"+id, "observer")
	got := make(chan paho.Message, 1)
	topic := presenceTopic(id)
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- m:
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	select {
	case m := <-got:
		msg, err := protocol.Decode(m.Payload())
		if err != nil {
			t.Fatalf("decode the retained presence of %s: %v", id, err)
		}
		birth, _ := msg.(*protocol.Birth)
		return birth, m.Retained()
	case <-time.After(5 * time.Second):
		t.Fatalf("no retained presence of %s after 5s", id)
		return nil, false
	}
}

func presenceTopic(id string) string {
	return "mqc/v1/default/nodes/" + id + "/presence"
}

// presenceObserver records the births that a Go client subscribed to every
// node's presence topic receives.
type presenceObserver struct {
	mu     sync.Mutex
	births map[string]int // node id -> births received
	more   chan struct{}  // closed and replaced when a birth arrives
}

func observePresence(t *testing.T, b *tlsMosquitto, url string) *presenceObserver {
	t.Helper()
	o := &presenceObserver{births: map[string]int{}, more: make(chan struct{})}
	c := b.connectTLS(t, url, "observer", "observer")
	topic := "mqc/v1/default/nodes/+/presence"
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		msg, err := protocol.Decode(m.Payload())
		if err != nil {
			t.Errorf("presence on %s: %v", m.Topic(), err)
			return
		}
		if birth, ok := msg.(*protocol.Birth); ok {
			o.mu.Lock()
			o.births[birth.NodeID]++
			close(o.more)
			o.more = make(chan struct{})
			o.mu.Unlock()
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return o
}

func (o *presenceObserver) count(id string) (int, chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.births[id], o.more
}

func (o *presenceObserver) waitBirth(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		n, more := o.count(id)
		if n > 0 {
			return
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no birth of %s after %v", id, timeout)
		}
	}
}

// noBirth checks that no birth of id has arrived. Callers first wait until
// the node has failed to connect twice, long after a birth would have come.
func (o *presenceObserver) noBirth(t *testing.T, id string) {
	t.Helper()
	if n, _ := o.count(id); n != 0 {
		t.Errorf("%d births of %s, want none", n, id)
	}
}

// waitOutputCount waits until n lines of p's output contain text.
func waitOutputCount(t *testing.T, p *testenv.Process, text string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		count := 0
		for _, line := range p.Output() {
			if strings.Contains(line, text) {
				count++
			}
		}
		if count >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d output lines contain %q after %v, want %d", count, text, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func noSecretInOutput(t *testing.T, p *testenv.Process, secret string) {
	t.Helper()
	for _, line := range p.Output() {
		if strings.Contains(line, secret) {
			t.Errorf("the node printed its password: %q", line)
		}
	}
}
