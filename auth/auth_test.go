package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqcluster/mqcluster/protocol"
)

func TestUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	u := NewUsers()
	if err := u.Add("a4:cf:12:0b:3e:01", RoleNode, "s3cret", 4); err != nil {
		t.Fatal(err)
	}
	if err := u.Add("coordinator", RoleCoordinator, "other", 4); err != nil {
		t.Fatal(err)
	}
	if err := u.Save(path); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", info.Mode().Perm())
	}
	text, _ := os.ReadFile(path)
	if strings.Contains(string(text), "s3cret") {
		t.Error("the password file holds a password in clear")
	}
	loaded, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if role, ok := loaded.Check("a4:cf:12:0b:3e:01", "s3cret"); !ok || role != RoleNode {
		t.Errorf("right password: role %q, ok %v", role, ok)
	}
	if _, ok := loaded.Check("a4:cf:12:0b:3e:01", "wrong"); ok {
		t.Error("wrong password accepted")
	}
	if _, ok := loaded.Check("nobody", "s3cret"); ok {
		t.Error("unknown user accepted")
	}
	if role, ok := loaded.Check("coordinator", "other"); !ok || role != RoleCoordinator {
		t.Errorf("coordinator: role %q, ok %v", role, ok)
	}
}

func TestUsersFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"no role", "n1:$2a$04$abc\n", "hash"},
		{"bad role", "n1:admin:$2a$04$abcdefghijklmnopqrstuu5v6w7x8y9z0ABCDEFGHIJKLMNOPQRS\n", "role"},
		{"bad node id", "n/1:node:$2a$04$abc\n", "node id"},
		{"not bcrypt", "n1:node:plain\n", "bcrypt"},
	} {
		path := filepath.Join(t.TempDir(), "users")
		os.WriteFile(path, []byte(tc.content), 0o600)
		_, err := LoadUsers(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: error %v, want one naming line 1 and %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadUsers(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "mqcluster user add") {
		t.Errorf("missing file: %v, want a hint to create it", err)
	}
}

func TestRules(t *testing.T) {
	topics, _ := protocol.NewTopics("", "")
	r := Rules{Topics: topics}
	node := Identity{Name: "n1", Role: RoleNode}
	coord := Identity{Name: "coordinator", Role: RoleCoordinator}
	stranger := Identity{Name: "x", Role: "admin"}
	for _, tc := range []struct {
		id     Identity
		filter string
		write  bool
		want   bool
	}{
		{node, "mqc/v1/default/nodes/n1/results", true, true},
		{node, "mqc/v1/default/nodes/n1/presence", true, true},
		{node, "mqc/v1/default/nodes/n1/heartbeat", true, true},
		{node, "mqc/v1/default/nodes/n2/results", true, false},
		{node, "mqc/v1/default/nodes/n1/tasks", true, false},
		{node, "mqc/v1/default/coordinator/presence", true, false},
		{node, "mqc/v1/default/nodes/n1/tasks", false, true},
		{node, "mqc/v1/default/nodes/n2/tasks", false, false},
		{node, "mqc/v1/default/nodes/+/tasks", false, false},
		{node, "mqc/v1/default/coordinator/presence", false, true},
		{node, "#", false, false},
		{node, "mqc/v1/default/#", false, false},
		{node, "mqc/v1/other/nodes/n1/tasks", false, false},
		{coord, "mqc/v1/default/nodes/+/results", false, true},
		{coord, "mqc/v1/default/nodes/n7/results", false, true},
		{coord, "mqc/v1/default/nodes/+/presence", false, true},
		{coord, "mqc/v1/default/nodes/+/tasks", false, false},
		{coord, "mqc/v1/default/nodes/n7/tasks", true, true},
		{coord, "mqc/v1/default/nodes/n7/results", true, false},
		{coord, "mqc/v1/default/coordinator/presence", true, true},
		{coord, "mqc/v1/default/coordinator/presence", false, true},
		{coord, "#", false, false},
		{stranger, "mqc/v1/default/coordinator/presence", false, false},
	} {
		if got := r.Allowed(tc.id, tc.filter, tc.write); got != tc.want {
			t.Errorf("%s %s, write %v: allowed %v, want %v", tc.id.Role, tc.filter, tc.write, got, tc.want)
		}
	}
	if !r.ClientIDAllowed(node, "mqc/v1/default/n1") || r.ClientIDAllowed(node, "mqc/v1/default/n2") {
		t.Error("a node's client id must be its own")
	}
	if !r.ClientIDAllowed(coord, "mqc/v1/default/coordinator-0badcafe") || r.ClientIDAllowed(coord, "mqc/v1/default/n1") {
		t.Error("the coordinator's client id must be a coordinator one")
	}
}
