package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultRoot and DefaultCluster make the default topic prefix "mqc/v1/default".
const (
	DefaultRoot    = "mqc"
	DefaultCluster = "default"
)

// Channels under a node's topic [P-4].
const (
	ChannelPresence  = "presence"
	ChannelHeartbeat = "heartbeat"
	ChannelTasks     = "tasks"
	ChannelResults   = "results"
)

// Topics builds and parses the topics of one cluster:
//
//	<root>/v1/<cluster>/nodes/<node>/{presence,heartbeat,tasks,results}
//	<root>/v1/<cluster>/coordinator/presence
//
// The version and the cluster name in the prefix let clusters and protocol
// versions share one broker without seeing each other's messages.
type Topics struct {
	prefix string
}

// NewTopics returns the topics of cluster under root. Empty arguments take
// the defaults.
func NewTopics(root, cluster string) (Topics, error) {
	if root == "" {
		root = DefaultRoot
	}
	if cluster == "" {
		cluster = DefaultCluster
	}
	for _, part := range strings.Split(root, "/") {
		if err := validateLevel("topic root", part); err != nil {
			return Topics{}, err
		}
	}
	if err := validateLevel("cluster name", cluster); err != nil {
		return Topics{}, err
	}
	return Topics{prefix: fmt.Sprintf("%s/v%d/%s", root, Version, cluster)}, nil
}

// Prefix returns the common start of every topic, such as "mqc/v1/default".
func (t Topics) Prefix() string { return t.prefix }

// Node returns the topic of one channel of node id.
func (t Topics) Node(id, channel string) string {
	return t.prefix + "/nodes/" + id + "/" + channel
}

// AllNodes returns the filter that matches one channel of every node.
func (t Topics) AllNodes(channel string) string {
	return t.prefix + "/nodes/+/" + channel
}

// NodeClientID returns the MQTT client id of node id: the topic prefix and
// the id, such as "mqc/v1/default/a4:cf:12:0b:3e:01". The prefix in it keeps
// nodes of the same id in two clusters from taking over each other's
// connection on a shared broker [P-5].
func (t Topics) NodeClientID(id string) string {
	return t.prefix + "/" + id
}

// CoordinatorClientID returns the MQTT client id of a coordinator that
// started at epoch. Each coordinator run has its own, so a second
// coordinator cannot silently take over the first one's connection.
func (t Topics) CoordinatorClientID(epoch uint32) string {
	return fmt.Sprintf("%s/coordinator-%08x", t.prefix, epoch)
}

// CoordinatorPresence returns the topic of the coordinator's retained presence.
func (t Topics) CoordinatorPresence() string {
	return t.prefix + "/coordinator/presence"
}

// ParseNode splits a node topic into the node id and the channel.
func (t Topics) ParseNode(topic string) (id, channel string, ok bool) {
	rest, found := strings.CutPrefix(topic, t.prefix+"/nodes/")
	if !found {
		return "", "", false
	}
	id, channel, found = strings.Cut(rest, "/")
	if !found || id == "" || strings.Contains(channel, "/") {
		return "", "", false
	}
	return id, channel, true
}

var errBadName = errors.New("invalid name")

// ValidateNodeID checks a node id: 1 to 64 of A-Z a-z 0-9 . _ : -, so that it
// is a single topic level with no wildcard. A MAC address such as
// "a4:cf:12:0b:3e:01" is a valid id.
func ValidateNodeID(id string) error {
	if len(id) == 0 || len(id) > MaxIDLen || !validChars(id, true) {
		return fmt.Errorf("%w: node id %q: use 1 to %d letters, digits and . _ : -", ErrInvalid, id, MaxIDLen)
	}
	return nil
}

// ValidateKind checks a task kind name: 1 to 32 of a-z 0-9 . _ -.
func ValidateKind(kind string) error {
	if len(kind) == 0 || len(kind) > MaxKindLen || strings.ToLower(kind) != kind || !validChars(kind, false) {
		return fmt.Errorf("%w: task kind %q: use 1 to %d lowercase letters, digits and . _ -", ErrInvalid, kind, MaxKindLen)
	}
	return nil
}

func validateLevel(what, s string) error {
	if s == "" || !validChars(s, false) {
		return fmt.Errorf("%w: %s %q: use letters, digits and . _ -", errBadName, what, s)
	}
	return nil
}

func validChars(s string, colon bool) bool {
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-':
		case c == ':' && colon:
		default:
			return false
		}
	}
	return true
}
