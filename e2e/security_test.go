package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/auth"
	"github.com/mqcluster/mqcluster/broker"
	"github.com/mqcluster/mqcluster/certs"
	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
	"github.com/mqcluster/mqcluster/protocol"
)

// securedCluster is a cluster whose embedded broker serves TLS, logs
// clients in with a password file or a client certificate, and applies the
// topic rules. Its API needs a token.
type securedCluster struct {
	*cluster.Cluster
	dir   string // certificates, keys and password files
	ca    *certs.Authority
	users *auth.Users // the broker's accounts; a test may add some
	token string
}

// password returns the password of user name in the test's password file.
func password(name string) string { return "pw-of-" + name }

func startSecuredCluster(t *testing.T, brokerOpts broker.Options, nodes ...string) *securedCluster {
	t.Helper()
	sc := &securedCluster{dir: t.TempDir(), token: "test-api-token"}
	var err error
	if sc.ca, err = certs.NewAuthority("mqcluster test CA", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sc.write(t, "ca.pem", sc.ca.CertPEM())
	serverPEM, serverKey, err := sc.ca.Server([]string{"127.0.0.1", "localhost"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(serverPEM, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sc.ca.CertPEM())
	users := auth.NewUsers()
	for _, name := range nodes {
		if err := users.Add(name, auth.RoleNode, password(name), bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
		sc.write(t, name+".password", []byte(password(name)+"\n"))
	}
	brokerOpts.Users, sc.users = users, users
	brokerOpts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	c, err := cluster.Start(context.Background(), cluster.Options{
		BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Logger: testenv.Logger(t), Broker: brokerOpts,
		Coordinator: coordinator.Options{APIToken: sc.token},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sc.Cluster = c
	return sc
}

func (sc *securedCluster) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(sc.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCert writes a client certificate of name with role, valid until
// notAfter, signed by ca, and returns it as a TLS certificate.
func clientCert(t *testing.T, ca *certs.Authority, name, role string, notAfter time.Time) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.Client(name, role, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// rawClient is a plain Paho client, which a test uses as a misbehaving or
// unwelcome client of the broker.
type rawClient struct {
	client paho.Client
	lost   chan error
}

// dialRaw connects to url as clientID with the given TLS client
// certificate (if any) and user name and password (if any).
func (sc *securedCluster) dialRaw(t *testing.T, url, clientID string, cert *tls.Certificate, user, pass string) (*rawClient, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sc.ca.CertPEM())
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	rc := &rawClient{lost: make(chan error, 1)}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetProtocolVersion(4).
		SetTLSConfig(cfg).SetUsername(user).SetPassword(pass).SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) { rc.lost <- err })
	rc.client = paho.NewClient(opts)
	tok := rc.client.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("connect as %s: no answer in 10 s", clientID)
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { rc.client.Disconnect(100) })
	return rc, nil
}

// The broker rejects clients with no credentials, a wrong password, an
// expired certificate, a certificate of another authority, or another
// node's client id. A right password or a valid certificate gets in.
func TestSecuredBrokerRefusesStrangers(t *testing.T) {
	sc := startSecuredCluster(t, broker.Options{}, "n1")
	topics, _ := protocol.NewTopics("", "")
	url := sc.BrokerURL
	if !strings.HasPrefix(url, "ssl://") {
		t.Fatalf("broker URL %s, want ssl://", url)
	}
	other, _ := certs.NewAuthority("another CA", time.Now().Add(time.Hour))
	expired := clientCert(t, sc.ca, "n1", certs.RoleNode, time.Now().Add(-time.Minute))
	foreign := clientCert(t, other, "n1", certs.RoleNode, time.Now().Add(time.Hour))
	valid := clientCert(t, sc.ca, "n1", certs.RoleNode, time.Now().Add(time.Hour))
	id := topics.NodeClientID("n1")

	for _, tc := range []struct {
		name       string
		url        string
		clientID   string
		cert       *tls.Certificate
		user, pass string
		wantErr    string
	}{
		{"no credentials", url, id, nil, "", "", "not Authorized"},
		{"wrong password", url, id, nil, "n1", "guess", "not Authorized"},
		{"unknown user", url, id, nil, "n9", password("n1"), "not Authorized"},
		{"expired certificate", url, id, &expired, "", "", "certificate"},
		{"certificate of another authority", url, id, &foreign, "", "", "not Authorized"},
		{"another node's client id", url, topics.NodeClientID("n2"), nil, "n1", password("n1"), "not Authorized"},
		{"plain TCP to the TLS port", strings.Replace(url, "ssl://", "tcp://", 1), id, nil, "n1", password("n1"), "EOF"},
		{"right password", url, id, nil, "n1", password("n1"), ""},
		{"valid certificate", url, id, &valid, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sc.dialRaw(t, tc.url, tc.clientID, tc.cert, tc.user, tc.pass)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Error("let in")
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Logf("refused with %q (expected it to mention %q)", err, tc.wantErr)
			}
		})
	}
}

// A logged-in node tries to read another node's tasks, to subscribe to #,
// to publish a result for another node, and to publish as the coordinator.
// The broker rejects each attempt, and an oversized packet too, while the
// job in progress finishes unaffected.
func TestSecuredBrokerContainsAMisbehavingNode(t *testing.T) {
	sc := startSecuredCluster(t, broker.Options{MaxPacketSize: 1 << 20}, "n1", "n2", "evil")
	topics, _ := protocol.NewTopics("", "")
	for _, id := range []string{"n1", "n2"} {
		startWorker(t, sc.BrokerURL, id, "--ca", filepath.Join(sc.dir, "ca.pem"),
			"--password-file", filepath.Join(sc.dir, id+".password"))
	}
	waitOnline(t, sc.Coordinator, "n1", "n2")
	job, err := sc.Coordinator.Submit(api.JobSpec{Name: "sleep", Tasks: builtin.Tasks(builtin.SleepKind, builtin.SleepPayload(40*time.Millisecond), 60)})
	if err != nil {
		t.Fatal(err)
	}
	login := func() *rawClient {
		rc, err := sc.dialRaw(t, sc.BrokerURL, topics.NodeClientID("evil"), nil, "evil", password("evil"))
		if err != nil {
			t.Fatalf("evil's own login refused: %v", err)
		}
		return rc
	}
	evil := login()

	seen := make(chan string, 100)
	for _, filter := range []string{topics.Node("n2", protocol.ChannelTasks), "#", topics.AllNodes(protocol.ChannelResults)} {
		tok := evil.client.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { seen <- m.Topic() })
		tok.WaitTimeout(5 * time.Second)
		code := tok.(*paho.SubscribeToken).Result()[filter]
		if code < 0x80 {
			t.Errorf("subscribe to %s granted with QoS %d, want a failure code", filter, code)
		}
	}

	forged, _ := protocol.Encode(&protocol.Results{Session: 1, Results: []protocol.Result{{ID: 1, Attempt: 1, Data: []byte("forged")}}})
	fakeTask, _ := protocol.Encode(&protocol.Tasks{Epoch: 1, Tasks: []protocol.Task{{ID: 999, Attempt: 1, Kind: builtin.NoopKind}}})
	fakeOnline, _ := protocol.Encode(&protocol.CoordinatorOnline{Epoch: 1})
	for _, p := range []struct {
		what, topic string
		payload     []byte
	}{
		{"a result for another node", topics.Node("n2", protocol.ChannelResults), forged},
		{"a task, as the coordinator", topics.Node("n1", protocol.ChannelTasks), fakeTask},
		{"the coordinator's presence", topics.CoordinatorPresence(), fakeOnline},
	} {
		evil.client.Publish(p.topic, 1, false, p.payload)
		select {
		case <-evil.lost:
			t.Logf("publishing %s closed evil's connection", p.what)
		case <-time.After(5 * time.Second):
			t.Errorf("publishing %s: the connection stayed open", p.what)
		}
		evil = login()
	}
	big := make([]byte, 2<<20)
	evil.client.Publish(topics.Node("evil", protocol.ChannelResults), 1, false, big)
	select {
	case <-evil.lost:
		t.Log("an oversized packet closed evil's connection")
	case <-time.After(5 * time.Second):
		t.Error("an oversized packet: the connection stayed open")
	}

	waitFor(t, 30*time.Second, "job done", func() bool {
		j, _ := sc.Coordinator.Job(job.ID)
		return j.Ended()
	})
	j, _ := sc.Coordinator.Job(job.ID)
	if j.State != api.JobDone || j.Done != 60 {
		t.Errorf("job %s with %d of 60 done, want done", j.State, j.Done)
	}
	st := sc.Coordinator.Stats()
	if st.ForeignResults != 0 || st.Malformed != 0 {
		t.Errorf("the coordinator saw %d foreign results and %d malformed messages, want none to get through", st.ForeignResults, st.Malformed)
	}
	select {
	case topic := <-seen:
		t.Errorf("evil received a message on %s", topic)
	default:
	}
}

// The HTTP API of a cluster with a token returns 401 without it, and the
// CLI sends it from --token-file. The dashboard's files need no token.
func TestAPIToken(t *testing.T) {
	sc := startSecuredCluster(t, broker.Options{})
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/api/v1/nodes", "", http.StatusUnauthorized},
		{"/api/v1/nodes", "wrong", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/api/v1/nodes", sc.token, http.StatusOK},
		{"/metrics", sc.token, http.StatusOK},
		{"/", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, sc.APIURL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with token %q: %d, want %d", tc.path, tc.token, resp.StatusCode, tc.want)
		}
	}
	// The dashboard's login: a wrong token is refused, a right one sets an
	// HttpOnly cookie that the API then accepts.
	if resp, err := http.PostForm(sc.APIURL+"/login", url.Values{"token": {"wrong"}}); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d, want 401", resp.StatusCode)
	}
	resp, err := http.PostForm(sc.APIURL+"/login", url.Values{"token": {sc.token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login cookies %+v, want one HttpOnly, SameSite=Strict cookie", cookies)
	}
	req, _ := http.NewRequest(http.MethodGet, sc.APIURL+"/api/v1/nodes", nil)
	req.AddCookie(cookies[0])
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1/nodes with the login cookie: %d, want 200", resp.StatusCode)
	}

	code, _, stderr := runCLI(t, "nodes", "--server", sc.APIURL)
	if code != 1 || !strings.Contains(stderr, "--token-file") {
		t.Errorf("nodes without a token: exit %d, %q; want 1 and a message about the API token", code, stderr)
	}
	tokenFile := sc.write(t, "token", []byte(sc.token+"\n"))
	if code, _, stderr := runCLI(t, "nodes", "--server", sc.APIURL, "--token-file", tokenFile); code != 0 {
		t.Errorf("nodes with --token-file: exit %d: %s", code, stderr)
	}
}

// up rejects a broker or an API address on the network without
// credentials, and names the flags to add.
func TestUpRefusesOpenNetworkAddresses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--broker-addr", "0.0.0.0:0"}, "--users FILE"},
		{[]string{"--api-addr", "0.0.0.0:0", "--broker-addr", "127.0.0.1:0"}, "--api-token-file"},
	} {
		args := append([]string{"up", "--data", "none"}, tc.args...)
		code, _, stderr := runCLI(t, args...)
		if code != 1 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "--insecure") {
			t.Errorf("up %v: exit %d, %q; want 1 and a message naming %s and --insecure", tc.args, code, stderr, tc.want)
		}
	}
}

// The broker caps the connections from one address.
func TestBrokerCapsConnectionsPerAddress(t *testing.T) {
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Logger: testenv.Logger(t), MaxConnsPerAddr: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	connect := func(id string) error {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID(id).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
		tok := c.Connect()
		tok.WaitTimeout(10 * time.Second)
		if tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(100) })
		}
		return tok.Error()
	}
	for i := range 3 {
		if err := connect("c" + string(rune('0'+i))); err != nil {
			t.Fatalf("connection %d of 3 refused: %v", i+1, err)
		}
	}
	if err := connect("c3"); err == nil {
		t.Error("a fourth connection from 127.0.0.1 was let in, with a cap of 3")
	}
}

// Go workers and C nodes run the image job over TLS with passwords, and the
// client reaches the API with its token: the output matches the one-process
// conversion, and the C nodes did some of the tiles.
func TestMixedClusterOverTLSWithPasswords(t *testing.T) {
	nodes := []string{"go-1", "go-2", "c-1", "c-2"}
	sc := startSecuredCluster(t, broker.Options{}, nodes...)
	ca := filepath.Join(sc.dir, "ca.pem")
	for _, id := range nodes {
		pw := filepath.Join(sc.dir, id+".password")
		if strings.HasPrefix(id, "go-") {
			startWorker(t, sc.BrokerURL, id, "--ca", ca, "--password-file", pw, "--task-delay", "5ms")
		} else {
			startCNode(t, sc.BrokerURL, id, "--ca", ca, "--username", id, "--password-file", pw)
		}
	}
	waitOnline(t, sc.Coordinator, nodes...)
	in := filepath.Join(imagesDir, "coffee.png")
	out := filepath.Join(t.TempDir(), "gray.png")
	token := sc.write(t, "token", []byte(sc.token+"\n"))
	code, stdout, stderr := runCLI(t, "image", "grayscale", "--server", sc.APIURL, "--token-file", token,
		"--tile", "64", in, out)
	if code != 0 {
		t.Fatalf("image grayscale: exit %d: %s", code, stderr)
	}
	sameBytes(t, "cluster over TLS", readFile(t, out), referenceOutput(t, in, ".png", 64, 64, imagejob.Luma))
	t.Log(strings.TrimSpace(stdout))
	done := map[string]uint64{}
	for _, n := range sc.Coordinator.Nodes() {
		done[n.ID] = n.Done
	}
	t.Logf("tasks done by node: %v", done)
	if done["c-1"]+done["c-2"] == 0 {
		t.Errorf("the C nodes did no tile over TLS: %v", done)
	}
}

// A secured `mqcluster up` as a user starts it: a password file made with
// `mqcluster user add`, TLS for the broker and the API, an API token. A
// worker process joins over TLS, the image job runs over HTTPS, and no
// process prints the password or the token.
func TestSecuredUpFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	ca, err := certs.NewAuthority("mqcluster test CA", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	serverPEM, serverKey, err := ca.Server([]string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"ca.pem": ca.CertPEM(), "server.pem": serverPEM, "server-key.pem": serverKey,
		"password": []byte("joiner-secret-1\n"), "token": []byte("api-secret-2\n")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	add := exec.Command(testenv.Binary(t), "user", "add", "joiner", "--file", path("users.txt"))
	add.Env, add.Stdin = testenv.RaceEnv(), strings.NewReader("joiner-secret-1\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v: %s", err, out)
	}

	brokerAddr, apiAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	up := testenv.StartProcess(t, "up", "up", "--workers", "1", "--broker-addr", brokerAddr, "--api-addr", apiAddr,
		"--data", t.TempDir(), "--users", path("users.txt"), "--tls-cert", path("server.pem"), "--tls-key", path("server-key.pem"),
		"--api-token-file", path("token"), "--log-format", "text")
	testenv.WaitListening(t, apiAddr, 20*time.Second)
	w := startWorker(t, "ssl://"+brokerAddr, "joiner", "--ca", path("ca.pem"), "--password-file", path("password"))

	server := "https://" + apiAddr
	in := filepath.Join(imagesDir, "camera.png")
	out := filepath.Join(t.TempDir(), "camera-gray.png")
	waitFor(t, 20*time.Second, "2 nodes online", func() bool {
		code, stdout, _ := runCLI(t, "nodes", "--server", server, "--api-ca", path("ca.pem"), "--token-file", path("token"))
		return code == 0 && strings.Count(stdout, " online ") == 2
	})
	code, stdout, stderr := runCLI(t, "image", "grayscale", "--server", server, "--api-ca", path("ca.pem"),
		"--token-file", path("token"), "--tile", "64", in, out)
	if code != 0 {
		t.Fatalf("image grayscale over HTTPS: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "on 2 nodes") {
		t.Errorf("stdout %q, want the tiles on 2 nodes", stdout)
	}
	sameBytes(t, out, readFile(t, out), referenceOutput(t, in, ".png", 64, 64, imagejob.Luma))

	if code, _, stderr := runCLI(t, "nodes", "--server", server, "--api-ca", path("ca.pem")); code == 0 {
		t.Error("nodes over HTTPS without the token succeeded")
	} else if !strings.Contains(stderr, "API token") {
		t.Errorf("nodes without the token: %q, want a message about the API token", stderr)
	}
	for name, p := range map[string]*testenv.Process{"up": up, "worker": w} {
		for _, line := range p.Output() {
			if strings.Contains(line, "joiner-secret-1") || strings.Contains(line, "api-secret-2") {
				t.Errorf("%s printed a secret: %s", name, line)
			}
		}
	}
}

// A worker with a wrong password stops at once and names what to check,
// instead of retrying for ever. A second coordinator on a secured broker
// still sees the first one and stops.
func TestSecuredBrokerWrongPasswordAndSecondCoordinator(t *testing.T) {
	sc := startSecuredCluster(t, broker.Options{}, "n1")
	wrong := sc.write(t, "wrong.password", []byte("not-the-password\n"))
	code, _, stderr := runCLI(t, "worker", "--broker", sc.BrokerURL, "--id", "n1",
		"--ca", filepath.Join(sc.dir, "ca.pem"), "--password-file", wrong)
	if code != 1 || !strings.Contains(stderr, "--username and the password") {
		t.Errorf("worker with a wrong password: exit %d, %q; want 1 and what to check", code, stderr)
	}
	if strings.Contains(stderr, "not-the-password") {
		t.Error("the worker printed the password")
	}

	// A second coordinator with an account of its own.
	if err := sc.users.Add("coord2", auth.RoleCoordinator, "coord2-password", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "coordinator", "--broker", sc.BrokerURL, "--ca", filepath.Join(sc.dir, "ca.pem"),
		"--username", "coord2", "--password-file", sc.write(t, "coord2.password", []byte("coord2-password\n")),
		"--api-addr", testenv.FreeAddr(t), "--data", "none")
	if code == 0 || !strings.Contains(stderr, "another coordinator of this cluster is online") {
		t.Errorf("second coordinator: exit %d, %q; want a non-zero exit and the reason", code, stderr)
	}
}

// A worker whose TLS settings cannot work stops at once and names the
// setting to fix. One that mixes up a TLS port and a plain one keeps
// retrying, since a broker can also close connections while it starts,
// and names the scheme to use.
func TestWorkerNamesTheTLSSettingToFix(t *testing.T) {
	sc := startSecuredCluster(t, broker.Options{}, "n1")
	pw := filepath.Join(sc.dir, "n1.password")
	plain := "tcp://" + testenv.FreeAddr(t)
	b, err := broker.Start(broker.Options{Addr: strings.TrimPrefix(plain, "tcp://"), Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no --ca", []string{"--broker", sc.BrokerURL, "--password-file", pw}, "give --ca"},
	} {
		args := append([]string{"worker", "--id", "n1"}, tc.args...)
		start := time.Now()
		code, _, stderr := runCLI(t, args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", tc.name, code, stderr, tc.want)
		}
		t.Logf("%s: stopped after %v", tc.name, time.Since(start).Round(time.Millisecond))
	}
	w := startWorker(t, strings.Replace(sc.BrokerURL, "ssl://", "tcp://", 1), "n1", "--password-file", pw)
	w.WaitOutput(t, "use ssl://", 20*time.Second)
	w = startWorker(t, strings.Replace(plain, "tcp://", "ssl://", 1), "n1", "--ca", filepath.Join(sc.dir, "ca.pem"), "--password-file", pw)
	w.WaitOutput(t, "use tcp://", 20*time.Second)
}
