package auth

import (
	"strings"

	"github.com/mqcluster/mqcluster/protocol"
)

// Identity is an authenticated client: a user of the password file, or the
// holder of a verified client certificate.
type Identity struct {
	Name string
	Role string
}

// Rules decide what each identity may do on the topics of one cluster:
//
//   - a node publishes only its own presence, heartbeat and results, and
//     subscribes only to its own tasks and presence and to the
//     coordinator's presence;
//   - the coordinator publishes tasks and its own presence, and subscribes
//     to its presence and every node's presence, heartbeat and results;
//   - no identity subscribes to # or to other nodes' tasks.
type Rules struct {
	Topics protocol.Topics
}

// ClientIDAllowed reports whether id may connect with clientID: a node only
// with its own, so that it cannot take over another node's connection, and
// the coordinator only with a coordinator client id.
func (r Rules) ClientIDAllowed(id Identity, clientID string) bool {
	switch id.Role {
	case RoleNode:
		return clientID == r.Topics.NodeClientID(id.Name)
	case RoleCoordinator:
		return strings.HasPrefix(clientID, r.Topics.Prefix()+"/coordinator-")
	}
	return false
}

// Allowed reports whether id may publish to (write) or subscribe to and
// receive from (read) filter. A filter with wildcards is allowed only if
// every topic it matches is.
func (r Rules) Allowed(id Identity, filter string, write bool) bool {
	for _, pattern := range r.patterns(id, write) {
		if covers(pattern, filter) {
			return true
		}
	}
	return false
}

func (r Rules) patterns(id Identity, write bool) []string {
	t := r.Topics
	switch {
	case id.Role == RoleNode && write:
		return []string{
			t.Node(id.Name, protocol.ChannelPresence),
			t.Node(id.Name, protocol.ChannelHeartbeat),
			t.Node(id.Name, protocol.ChannelResults),
		}
	case id.Role == RoleNode:
		return []string{
			t.Node(id.Name, protocol.ChannelTasks),
			t.Node(id.Name, protocol.ChannelPresence),
			t.CoordinatorPresence(),
		}
	case id.Role == RoleCoordinator && write:
		return []string{t.AllNodes(protocol.ChannelTasks), t.CoordinatorPresence()}
	case id.Role == RoleCoordinator:
		return []string{
			t.CoordinatorPresence(), // to see another coordinator of the cluster
			t.AllNodes(protocol.ChannelPresence),
			t.AllNodes(protocol.ChannelHeartbeat),
			t.AllNodes(protocol.ChannelResults),
		}
	}
	return nil
}

// covers reports whether every topic that filter matches also matches
// pattern, where pattern may hold + levels and filter + or # levels.
func covers(pattern, filter string) bool {
	p, f := strings.Split(pattern, "/"), strings.Split(filter, "/")
	if len(p) != len(f) {
		return false
	}
	for i := range p {
		switch {
		case f[i] == "#":
			return false // matches more levels than any pattern has
		case p[i] == "+":
			// matches any one level, including a + in the filter
		case f[i] != p[i]:
			return false
		}
	}
	return true
}
