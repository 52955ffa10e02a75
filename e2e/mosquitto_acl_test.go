package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/certs"
	"github.com/mqcluster/mqcluster/coordinator"
	"github.com/mqcluster/mqcluster/internal/testenv"
	"github.com/mqcluster/mqcluster/jobs/builtin"
	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport/mqtt"
	"github.com/mqcluster/mqcluster/worker"
)

// The files under test, read from the repository as a user copies them.
const (
	docsMosquittoConf = "../docs/mosquitto/mosquitto.conf"
	docsMosquittoACL  = "../docs/mosquitto/mqcluster.acl"
)

// docsMosquitto is Debian's Mosquitto running docs/mosquitto/mosquitto.conf
// with the test's port, certificates and password file, and the repository's
// docs/mosquitto/mqcluster.acl.
type docsMosquitto struct {
	url       string // ssl://127.0.0.1:PORT
	ca        *certs.Authority
	passwords map[string]string // by user name
	topics    protocol.Topics
}

// startDocsMosquitto starts Mosquitto with a new authority and a password
// file holding users, and stops it when the test ends. With mutualTLS it
// uncomments the mutual TLS lines of the documented config.
func startDocsMosquitto(t *testing.T, mutualTLS bool, users ...string) *docsMosquitto {
	t.Helper()
	dir := t.TempDir()
	acl, err := filepath.Abs(docsMosquittoACL)
	if err != nil {
		t.Fatal(err)
	}

	ca, err := certs.NewAuthority("mqcluster test CA", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	serverCert, serverKey, err := ca.Server([]string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"cafile":        filepath.Join(dir, "ca.pem"),
		"certfile":      filepath.Join(dir, "server.pem"),
		"keyfile":       filepath.Join(dir, "server-key.pem"),
		"password_file": filepath.Join(dir, "passwd"),
		"acl_file":      acl,
	}
	writeFile(t, files["cafile"], string(ca.CertPEM()), 0o644)
	writeFile(t, files["certfile"], string(serverCert), 0o644)
	writeFile(t, files["keyfile"], string(serverKey), 0o600)

	m := &docsMosquitto{ca: ca}
	m.topics, _ = protocol.NewTopics("", "")
	writeFile(t, files["password_file"], "", 0o600)
	m.passwords = testenv.AddMosquittoUsers(t, files["password_file"], users...)

	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	m.url = "ssl://" + addr
	conf := filepath.Join(dir, "mosquitto.conf")
	writeFile(t, conf, docsMosquittoConfig(t, port, files, mutualTLS), 0o644)

	testenv.StartMosquittoConfig(t, conf, addr)
	return m
}

// docsMosquittoConfig returns docs/mosquitto/mosquitto.conf with the
// listener on 127.0.0.1:port and the paths in files (by setting name) in
// place of the documented ones, and with the mutual TLS lines uncommented
// if mutualTLS is set. It fails the test if a documented setting is missing.
func docsMosquittoConfig(t *testing.T, port string, files map[string]string, mutualTLS bool) string {
	t.Helper()
	text, err := os.ReadFile(docsMosquittoConf)
	if err != nil {
		t.Fatal(err)
	}

	found := map[string]bool{}
	want := []string{"listener 8883", "set_tcp_nodelay true", "allow_anonymous false",
		"#require_certificate true", "#use_identity_as_username true"}
	for name := range files {
		want = append(want, name)
	}

	var conf strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		setting := strings.TrimSpace(line)
		name, _, _ := strings.Cut(setting, " ")
		switch {
		case setting == "listener 8883":
			found[setting] = true
			line = "listener " + port + " 127.0.0.1"
		case files[name] != "":
			found[name] = true
			line = name + " " + files[name]
		case slices.Contains(want, setting):
			found[setting] = true
			if mutualTLS && strings.HasPrefix(setting, "#") {
				line = setting[1:]
			}
		}
		conf.WriteString(line + "\n")
	}

	for _, setting := range want {
		if !found[setting] {
			t.Fatalf("%s has no line %q", docsMosquittoConf, setting)
		}
	}

	// Mosquitto started by root switches to the user named here, the
	// current one, which can read the test's private files. Started by
	// another user, it ignores the setting.
	fmt.Fprintf(&conf, "\n# Test settings\nuser %s\npersistence false\n", currentUser(t))
	conf.WriteString("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	return conf.String()
}

// tlsConfig trusts only the test's authority and presents cert, if given.
func (m *docsMosquitto) tlsConfig(cert *tls.Certificate) *tls.Config {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(m.ca.CertPEM())
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// credentials logs in as user with its password from the password file.
func (m *docsMosquitto) credentials(user string) mqtt.Credentials {
	return mqtt.Credentials{Username: user, Password: m.passwords[user], TLS: m.tlsConfig(nil)}
}

// connect connects a plain Paho client as clientID and returns the broker's
// refusal, if any. A connected client disconnects when the test ends.
func (m *docsMosquitto) connect(t *testing.T, clientID, user, password string, cert *tls.Certificate) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(m.url).SetClientID(clientID).SetProtocolVersion(4).
		SetUsername(user).SetPassword(password).SetTLSConfig(m.tlsConfig(cert)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("connect as %s: no answer in 10 s", clientID)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c, nil
}

// startDocsCoordinator starts a coordinator that logs in with creds, without
// backup copies of slow tasks, so that every result is accepted exactly
// once and DuplicatesDropped stays 0.
func startDocsCoordinator(t *testing.T, m *docsMosquitto, creds mqtt.Credentials) *coordinator.Coordinator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := coordinator.Start(ctx, mqtt.SecureDialer(m.url, creds), coordinator.Options{
		Logger: testenv.Logger(t).With("component", "coordinator"), NoBackups: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startDocsWorker runs an in-process worker for noop and sleep tasks with
// one slot and no prefetch, logged in with creds, until the test ends.
func startDocsWorker(t *testing.T, m *docsMosquitto, id string, creds mqtt.Credentials) {
	t.Helper()
	w, err := worker.New(worker.Options{NodeID: id, Slots: 1, Prefetch: -1, Heartbeat: 250 * time.Millisecond,
		Logger: testenv.Logger(t).With("component", "worker", "node", id)})
	if err != nil {
		t.Fatal(err)
	}
	for kind, h := range map[string]worker.HandlerFunc{builtin.NoopKind: builtin.Noop, builtin.SleepKind: builtin.Sleep} {
		if err := w.Handle(kind, h); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx, mqtt.SecureDialer(m.url, creds)); err != nil {
			t.Errorf("worker %s: %v", id, err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// spy is a Paho client subscribed to one filter that records every message
// it receives on it.
type spy struct {
	client  paho.Client
	filter  string
	granted byte // the SUBACK return code

	mu       sync.Mutex
	messages []paho.Message
}

func (m *docsMosquitto) spy(t *testing.T, clientID, user, filter string) *spy {
	t.Helper()
	c, err := m.connect(t, clientID, user, m.passwords[user], nil)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", clientID, user, err)
	}
	s := &spy{client: c, filter: filter}
	tok := c.Subscribe(filter, 1, func(_ paho.Client, msg paho.Message) {
		s.mu.Lock()
		s.messages = append(s.messages, msg)
		s.mu.Unlock()
	})
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("%s: no SUBACK for %s in 5 s", clientID, filter)
	}
	s.granted = tok.(*paho.SubscribeToken).Result()[filter]
	return s
}

func (s *spy) received() []paho.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// waitDelivered returns once every message the broker routed to s before now has
// reached s. It subscribes to the coordinator's presence, which every user
// may read, and waits for the retained message there: Mosquitto sends a
// client's packets in order, and Paho runs the handlers in that order.
func (s *spy) waitDelivered(t *testing.T, topics protocol.Topics) {
	t.Helper()
	got := make(chan struct{}, 1)
	tok := s.client.Subscribe(topics.CoordinatorPresence(), 1, func(_ paho.Client, msg paho.Message) {
		if msg.Retained() {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	})
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("no SUBACK for %s in 5 s", topics.CoordinatorPresence())
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("no retained message on %s in 5 s", topics.CoordinatorPresence())
	}
}

// retainedCoordinator returns the retained message on the coordinator's
// presence topic, read by a new client logged in as user.
func (m *docsMosquitto) retainedCoordinator(t *testing.T, clientID, user string) protocol.Message {
	t.Helper()
	c, err := m.connect(t, clientID, user, m.passwords[user], nil)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", clientID, user, err)
	}
	defer c.Disconnect(250)
	got := make(chan []byte, 1)
	c.Subscribe(m.topics.CoordinatorPresence(), 1, func(_ paho.Client, msg paho.Message) {
		if msg.Retained() {
			select {
			case got <- msg.Payload():
			default:
			}
		}
	})
	select {
	case payload := <-got:
		msg, err := protocol.Decode(payload)
		if err != nil {
			t.Fatalf("retained coordinator presence: %v", err)
		}
		return msg
	case <-time.After(5 * time.Second):
		t.Fatalf("no retained message on %s in 5 s", m.topics.CoordinatorPresence())
		return nil
	}
}

// publish sends payload at QoS 1 and returns the error of its PUBACK.
func publish(t *testing.T, c paho.Client, topic string, retain bool, payload []byte) error {
	t.Helper()
	tok := c.Publish(topic, 1, retain, payload)
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("publish to %s: no PUBACK in 5 s", topic)
	}
	return tok.Error()
}

// The topic rules of docs/mosquitto/mqcluster.acl on Debian's Mosquitto: a
// job runs to the end on n1 and n2 while clients logged in as n1 listen to
// n2's tasks and forge results, a task and the coordinator's presence.
func TestMosquittoACLIsolatesNodes(t *testing.T) {
	m := startDocsMosquitto(t, false, "coordinator", "n1", "n2")
	topics := m.topics
	coord := startDocsCoordinator(t, m, m.credentials("coordinator"))
	startDocsWorker(t, m, "n1", m.credentials("n1"))
	startDocsWorker(t, m, "n2", m.credentials("n2"))
	waitOnline(t, coord, "n1", "n2")

	// Mosquitto 2.0 with an acl_file grants every subscription and then
	// delivers only the messages that the user may read.
	n2Tasks := topics.Node("n2", protocol.ChannelTasks)
	snoop := m.spy(t, "snoop-n2-tasks", "n1", n2Tasks)
	wildcard := m.spy(t, "snoop-everything", "n1", "#")
	control := m.spy(t, "control-n2-tasks", "n2", n2Tasks)
	for _, s := range []*spy{snoop, wildcard, control} {
		if s.granted != 1 {
			t.Errorf("subscribe to %s: SUBACK return code %#x, want 1 (QoS 1 granted)", s.filter, s.granted)
		}
	}
	online, ok := m.retainedCoordinator(t, "presence-before", "n1").(*protocol.CoordinatorOnline)
	if !ok {
		t.Fatal("the retained coordinator presence is not an online message")
	}

	// Sleep tasks first, so that the first task n2 gets is still running
	// when the forged result for it arrives.
	spec := api.JobSpec{Name: "acl", Tasks: builtin.Tasks(builtin.SleepKind, builtin.SleepPayload(300*time.Millisecond), 4)}
	for i := range 6 {
		spec.Tasks = append(spec.Tasks, api.TaskSpec{Kind: builtin.NoopKind, Payload: fmt.Appendf(nil, "noop-%d", i)})
	}
	job, err := coord.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a tasks message to n2", func() bool { return len(control.received()) > 0 })
	first, err := protocol.Decode(control.received()[0].Payload())
	if err != nil {
		t.Fatalf("tasks message to n2: %v", err)
	}
	firstTasks, ok := first.(*protocol.Tasks)
	if !ok {
		t.Fatalf("first message to n2 is a %v, want tasks", first.Type())
	}
	n2Task := firstTasks.Tasks[0]

	forger, err := m.connect(t, "forger", "n1", m.passwords["n1"], nil)
	if err != nil {
		t.Fatalf("connect as n1: %v", err)
	}
	const forgedTaskID = 1<<63 + 7
	forgedResult, _ := protocol.Encode(&protocol.Results{Results: []protocol.Result{
		{ID: n2Task.ID, Attempt: n2Task.Attempt, Status: protocol.StatusOK, Data: []byte("forged")}}})
	forgedTask, _ := protocol.Encode(&protocol.Tasks{Epoch: online.Epoch, Tasks: []protocol.Task{
		{ID: forgedTaskID, Attempt: 1, DeadlineMS: 10000, Kind: builtin.NoopKind, Payload: []byte("forged")}}})
	forgedOnline, _ := protocol.Encode(&protocol.CoordinatorOnline{Epoch: online.Epoch + 1, Software: "forged"})
	forgeries := []struct {
		what, topic string
		retain      bool
		payload     []byte
	}{
		{"n2's result for its running task", topics.Node("n2", protocol.ChannelResults), false, forgedResult},
		{"a malformed result of n2", topics.Node("n2", protocol.ChannelResults), false, []byte("not a message")},
		{"a task for n2", n2Tasks, false, forgedTask},
		{"a retained coordinator presence", topics.CoordinatorPresence(), true, forgedOnline},
	}
	for _, f := range forgeries {
		// MQTT 3.1.1 has no code for a denied publish: Mosquitto sends
		// the PUBACK and drops the message.
		if err := publish(t, forger, f.topic, f.retain, f.payload); err != nil {
			t.Errorf("publish %s as n1: %v, want a PUBACK", f.what, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := coord.WaitJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	j, _ := coord.Job(job.ID)
	if j.State != api.JobDone || j.Done != len(spec.Tasks) {
		t.Fatalf("job %s with %d of %d tasks done, want done", j.State, j.Done, len(spec.Tasks))
	}
	res, err := coord.Results(job.ID)
	if err != nil {
		t.Fatal(err)
	}
	ranOn := map[string]int{}
	for i, r := range res.Tasks {
		ranOn[r.Node]++
		want := spec.Tasks[i].Payload // noop returns its payload
		if spec.Tasks[i].Kind == builtin.SleepKind {
			want = nil
		}
		if !bytes.Equal(r.Output, want) {
			t.Errorf("task %d (%s on %s): output %q, want %q", i, spec.Tasks[i].Kind, r.Node, r.Output, want)
		}
	}
	t.Logf("tasks by node: %v; tasks messages seen on %s: %d", ranOn, n2Tasks, len(control.received()))
	if ranOn["n2"] == 0 {
		t.Error("n2 ran no task, so the snooping on its tasks proves nothing")
	}

	st := coord.Stats()
	if st.ResultsAccepted != uint64(len(spec.Tasks)) {
		t.Errorf("results accepted = %d, want %d", st.ResultsAccepted, len(spec.Tasks))
	}
	if st.ForeignResults != 0 {
		t.Errorf("foreign results = %d, want 0: a forged result or the result of a forged task got through", st.ForeignResults)
	}
	if st.Malformed != 0 {
		t.Errorf("malformed messages = %d, want 0: the malformed result got through", st.Malformed)
	}
	if st.DuplicatesDropped != 0 {
		t.Errorf("duplicates dropped = %d, want 0: a forged result got through after the real one", st.DuplicatesDropped)
	}

	for _, s := range []*spy{snoop, wildcard, control} {
		s.waitDelivered(t, topics)
	}
	if got := snoop.received(); len(got) != 0 {
		t.Errorf("n1 subscribed to %s received %d messages, want none; the first on %s", n2Tasks, len(got), got[0].Topic())
	}
	n1Readable := []string{topics.Node("n1", protocol.ChannelTasks), topics.Node("n1", protocol.ChannelPresence), topics.CoordinatorPresence()}
	var unreadable []string
	for _, msg := range wildcard.received() {
		if !slices.Contains(n1Readable, msg.Topic()) && !slices.Contains(unreadable, msg.Topic()) {
			unreadable = append(unreadable, msg.Topic())
		}
	}
	if len(unreadable) > 0 {
		t.Errorf("n1 subscribed to # received messages on %v, want only on %v", unreadable, n1Readable)
	}
	for _, msg := range control.received() {
		decoded, err := protocol.Decode(msg.Payload())
		if err != nil {
			t.Errorf("a message on %s does not decode: %v", n2Tasks, err)
			continue
		}
		if tasks, ok := decoded.(*protocol.Tasks); ok && tasks.Tasks[0].ID == forgedTaskID {
			t.Errorf("the task that n1 forged reached %s", n2Tasks)
		}
	}
	after, ok := m.retainedCoordinator(t, "presence-after", "n2").(*protocol.CoordinatorOnline)
	if !ok || after.Epoch != online.Epoch || after.Software == "forged" {
		t.Errorf("retained coordinator presence after the forgery: %+v, want epoch %d", after, online.Epoch)
	}

	// The coordinator may read its own presence topic, so a second
	// coordinator of the cluster receives the first one's retained
	// presence and stops.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel2()
	second, err := coordinator.Start(ctx2, mqtt.SecureDialer(m.url, m.credentials("coordinator")),
		coordinator.Options{Logger: testenv.Logger(t).With("component", "second coordinator")})
	if err == nil {
		second.Close()
	}
	if !errors.Is(err, coordinator.ErrAnotherCoordinator) {
		t.Errorf("second coordinator: %v, want %v", err, coordinator.ErrAnotherCoordinator)
	}
}

// The password file and allow_anonymous false of docs/mosquitto/mosquitto.conf:
// a wrong password, an unknown user and a login without credentials are
// rejected.
func TestMosquittoRejectsBadLogins(t *testing.T) {
	m := startDocsMosquitto(t, false, "n1")
	if _, err := m.connect(t, "right-password", "n1", m.passwords["n1"], nil); err != nil {
		t.Fatalf("n1 with its password: %v", err)
	}
	logins := []struct{ name, user, password string }{
		{"wrong password", "n1", "not-" + m.passwords["n1"]},
		{"no credentials", "", ""},
		{"unknown user", "n9", m.passwords["n1"]},
	}
	for _, l := range logins {
		t.Run(l.name, func(t *testing.T) {
			// Mosquitto 2.0 rejects an MQTT 3.1.1 client with CONNACK
			// code 5, not authorized, in each case.
			_, err := m.connect(t, "bad-login", l.user, l.password, nil)
			if !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
				t.Errorf("connect: %v, want %v", err, packets.ErrorRefusedNotAuthorised)
			}
		})
	}
}

// The mutual TLS lines of docs/mosquitto/mosquitto.conf, uncommented: the
// coordinator and a node named by a MAC address log in with certificates
// from the certs package and run a job. A client without a certificate, or
// with one of another authority, is rejected.
func TestMosquittoMutualTLS(t *testing.T) {
	m := startDocsMosquitto(t, true)
	notAfter := time.Now().Add(time.Hour)
	const nodeID = "a4:cf:12:0b:3e:01"
	coordCert := clientCert(t, m.ca, "coordinator", certs.RoleCoordinator, notAfter)
	nodeCert := clientCert(t, m.ca, nodeID, certs.RoleNode, notAfter)

	coord := startDocsCoordinator(t, m, mqtt.Credentials{TLS: m.tlsConfig(&coordCert)})
	startDocsWorker(t, m, nodeID, mqtt.Credentials{TLS: m.tlsConfig(&nodeCert)})
	waitOnline(t, coord, nodeID)

	job, err := coord.Submit(api.JobSpec{Name: "mtls", Tasks: builtin.Tasks(builtin.NoopKind, []byte("over mutual TLS"), 4)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := coord.WaitJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	res, err := coord.Results(job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Tasks {
		if r.State != api.TaskDone || r.Node != nodeID || string(r.Output) != "over mutual TLS" {
			t.Errorf("task %d: %s on %q with output %q, want done on %s", i, r.State, r.Node, r.Output, nodeID)
		}
	}

	if _, err := m.connect(t, "no-certificate", "", "", nil); err == nil {
		t.Error("a client without a certificate got in")
	}
	other, err := certs.NewAuthority("another CA", notAfter)
	if err != nil {
		t.Fatal(err)
	}
	strangerCert := clientCert(t, other, nodeID, certs.RoleNode, notAfter)
	if _, err := m.connect(t, "other-authority", "", "", &strangerCert); err == nil {
		t.Error("a client with a certificate of another authority got in")
	}
}
