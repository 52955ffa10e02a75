package broker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqcluster/mqcluster/auth"
	"github.com/mqcluster/mqcluster/certs"
)

// guard is the hook that authenticates clients, applies the topic rules
// and caps the connections of each address. With no users and no client
// certificate authority it lets every client in, as an open broker on
// loopback should.
type guard struct {
	mochi.HookBase
	server   *mochi.Server
	users    *auth.Users
	certAuth bool // client certificates are verified by the listener
	rules    auth.Rules
	maxConns int
	log      *slog.Logger

	mu         sync.Mutex
	identities map[*mochi.Client]auth.Identity
	lastLog    map[string]time.Time // by message, for rate limiting
}

func (g *guard) ID() string { return "mqcluster-guard" }

func (g *guard) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnDisconnect}, []byte{b})
}

func (g *guard) secured() bool { return g.users != nil || g.certAuth }

var errTooManyConns = errors.New("too many connections from this address")

// OnConnect refuses a client whose address already has maxConns
// connections, before any password check spends CPU on it.
func (g *guard) OnConnect(cl *mochi.Client, _ packets.Packet) error {
	host := hostOf(cl.Net.Remote)
	n := 0
	for _, other := range g.server.Clients.GetAll() {
		if other != cl && !other.Closed() && hostOf(other.Net.Remote) == host {
			n++
		}
	}
	if n >= g.maxConns {
		g.warn("refused a connection: too many from one address", "remote", cl.Net.Remote, "client", cl.ID,
			"connections", n, "limit", g.maxConns)
		return errTooManyConns
	}
	return nil
}

// OnConnectAuthenticate finds the client's identity, from its verified
// certificate or its user name and password, and checks its client id.
func (g *guard) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if !g.secured() {
		return true
	}
	id, reason, ok := g.identify(cl, pk)
	if !ok {
		g.warn("refused a client: "+reason, "remote", cl.Net.Remote, "client", cl.ID, "username", string(pk.Connect.Username))
		return false
	}
	if !g.rules.ClientIDAllowed(id, cl.ID) {
		g.warn("refused a client: its client id does not belong to its identity", "remote", cl.Net.Remote,
			"client", cl.ID, "identity", id.Name, "role", id.Role)
		return false
	}
	g.mu.Lock()
	g.identities[cl] = id
	g.mu.Unlock()
	return true
}

func (g *guard) identify(cl *mochi.Client, pk packets.Packet) (id auth.Identity, reason string, ok bool) {
	if tc, isTLS := cl.Net.Conn.(*tls.Conn); isTLS && g.certAuth {
		if chains := tc.ConnectionState().VerifiedChains; len(chains) > 0 {
			name, role := certs.Identity(chains[0][0])
			if err := auth.ValidateUser(name, role); err != nil {
				return id, "its certificate names no valid identity: " + err.Error(), false
			}
			return auth.Identity{Name: name, Role: role}, "", true
		}
	}
	if g.users == nil {
		return id, "no client certificate", false
	}
	if !pk.Connect.UsernameFlag || !pk.Connect.PasswordFlag {
		return id, "no user name and password, and no client certificate", false
	}
	name := string(pk.Connect.Username)
	role, ok := g.users.Check(name, string(pk.Connect.Password))
	if !ok {
		return id, "wrong user name or password", false
	}
	return auth.Identity{Name: name, Role: role}, "", true
}

// OnACLCheck applies the topic rules to a publish, a subscription or a
// delivery.
func (g *guard) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if !g.secured() {
		return true
	}
	g.mu.Lock()
	id, found := g.identities[cl]
	g.mu.Unlock()
	if found && g.rules.Allowed(id, topic, write) {
		return true
	}
	action := "subscribe to or receive"
	if write {
		action = "publish to"
	}
	g.warn("denied a client's "+action+" a topic", "client", cl.ID, "identity", id.Name, "role", id.Role, "topic", topic)
	return false
}

func (g *guard) OnDisconnect(cl *mochi.Client, _ error, _ bool) {
	g.mu.Lock()
	delete(g.identities, cl)
	g.mu.Unlock()
}

// warn logs msg at most once a second, so that a client trying again and
// again cannot flood the log.
func (g *guard) warn(msg string, args ...any) {
	g.mu.Lock()
	now := time.Now()
	last := g.lastLog[msg]
	if now.Sub(last) < time.Second {
		g.mu.Unlock()
		return
	}
	g.lastLog[msg] = now
	g.mu.Unlock()
	g.log.Warn(msg, args...)
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
