// Package auth decides who may connect to the embedded broker and what each
// client may publish and subscribe to.
//
// A client's identity is its user name, checked against a password file, or
// the common name of a verified client certificate. Its role is node or
// coordinator: a node may use only its own topics, and only the
// coordinator may assign tasks.
package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqcluster/mqcluster/protocol"
)

// Roles of an identity.
const (
	RoleNode        = "node"
	RoleCoordinator = "coordinator"
)

// HashCost is the bcrypt cost of the hashes that `mqcluster user add`
// writes: a check takes about 80 ms on one core of the 2-core VM the tests
// run on, paid once per connection.
const HashCost = 10

// Users is the content of a password file: one line per user, in the form
// name:role:bcrypt-hash. Lines starting with # are comments.
type Users struct {
	mu    sync.RWMutex
	users map[string]user
}

type user struct {
	role string
	hash []byte
}

// NewUsers returns an empty set of users.
func NewUsers() *Users { return &Users{users: map[string]user{}} }

// LoadUsers reads the password file at path.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w (create it with: mqcluster user add NAME --file %s)", err, path)
	}
	defer f.Close()
	u := NewUsers()
	scan := bufio.NewScanner(f)
	for line := 1; scan.Scan(); line++ {
		text := strings.TrimSpace(scan.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, role, hash, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("password file %s, line %d: %w", path, line, err)
		}
		u.users[name] = user{role: role, hash: []byte(hash)}
	}
	if err := scan.Err(); err != nil {
		return nil, fmt.Errorf("password file %s: %w", path, err)
	}
	return u, nil
}

// parseLine splits a line at its last two colons: a node id such as a MAC
// address holds colons, a role and a bcrypt hash never do.
func parseLine(text string) (name, role, hash string, err error) {
	rest, hash, ok := cutLast(text)
	if ok {
		name, role, ok = cutLast(rest)
	}
	if !ok {
		return "", "", "", errors.New("want name:role:hash")
	}
	if err := ValidateUser(name, role); err != nil {
		return "", "", "", err
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return "", "", "", fmt.Errorf("user %s: the hash is not a bcrypt hash: %w", name, err)
	}
	return name, role, hash, nil
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// ValidateUser checks a user name and role. A node's name is its node id,
// since the broker lets it use only the topics of that id.
func ValidateUser(name, role string) error {
	switch role {
	case RoleNode:
		if err := protocol.ValidateNodeID(name); err != nil {
			return fmt.Errorf("node user %q: %w", name, err)
		}
	case RoleCoordinator:
		if name == "" || strings.ContainsAny(name, ":\n\r") {
			return fmt.Errorf("coordinator user %q: need 1 or more characters, and no colon", name)
		}
	default:
		return fmt.Errorf("role %q of user %q is not %q or %q", role, name, RoleNode, RoleCoordinator)
	}
	return nil
}

// Add adds or replaces user name with role and password, hashed at cost.
func (u *Users) Add(name, role, password string, cost int) error {
	if err := ValidateUser(name, role); err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("user %s: empty password", name)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	u.mu.Lock()
	u.users[name] = user{role: role, hash: hash}
	u.mu.Unlock()
	return nil
}

// Check returns the role of name if password is its password.
func (u *Users) Check(name, password string) (role string, ok bool) {
	u.mu.RLock()
	usr, found := u.users[name]
	u.mu.RUnlock()
	if !found {
		// Spend the time of a real check, so that the answer's delay does
		// not tell which user names exist.
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", false
	}
	if bcrypt.CompareHashAndPassword(usr.hash, []byte(password)) != nil {
		return "", false
	}
	return usr.role, true
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), HashCost)

// Len returns the number of users.
func (u *Users) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.users)
}

// Save writes the users to path, readable by its owner only, through a
// temporary file so that a crash never leaves half a file.
func (u *Users) Save(path string) error {
	u.mu.RLock()
	names := make([]string, 0, len(u.users))
	for name := range u.users {
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	b.WriteString("# mqcluster users: name:role:bcrypt-hash. Edit with: mqcluster user add\n")
	for _, name := range names {
		fmt.Fprintf(&b, "%s:%s:%s\n", name, u.users[name].role, u.users[name].hash)
	}
	u.mu.RUnlock()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
