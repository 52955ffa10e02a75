// Package protocol encodes and decodes the messages that the coordinator and
// the nodes exchange over MQTT, and builds their topics. docs/protocol.md is
// the specification; the rule ids in brackets below refer to it.
//
// Every message starts with a 4-byte header: magic 'M' (0x4D), the protocol
// version, the message type and a flags byte. Integers are big-endian and
// strings carry a one-byte length, so a node can parse a message with a few
// fixed-size fields and no heap [P-1].
package protocol

import (
	"errors"
	"fmt"
)

// Version is the protocol version carried in every header and in the topic prefix.
const Version = 1

// Magic is the first byte of every message.
const Magic = 'M'

// HeaderSize is the length of the header that starts every message.
const HeaderSize = 4

// Type identifies the kind of message that follows the header.
type Type byte

// Message types [P-2].
const (
	TypeBirth              Type = 1 // node -> coordinator, retained presence
	TypeDeath              Type = 2 // node -> coordinator, retained presence (the will)
	TypeHeartbeat          Type = 3 // node -> coordinator
	TypeTasks              Type = 4 // coordinator -> one node
	TypeResults            Type = 5 // node -> coordinator
	TypeCoordinatorOnline  Type = 6 // coordinator -> nodes, retained presence
	TypeCoordinatorOffline Type = 7 // coordinator -> nodes, retained presence (the will)
	TypeAbort              Type = 8 // coordinator -> one node, on its tasks topic
)

func (t Type) String() string {
	switch t {
	case TypeBirth:
		return "birth"
	case TypeDeath:
		return "death"
	case TypeHeartbeat:
		return "heartbeat"
	case TypeTasks:
		return "tasks"
	case TypeResults:
		return "results"
	case TypeCoordinatorOnline:
		return "coordinator-online"
	case TypeCoordinatorOffline:
		return "coordinator-offline"
	case TypeAbort:
		return "abort"
	}
	return fmt.Sprintf("type-%d", byte(t))
}

// Limits that every encoder and decoder enforces [P-3].
const (
	MaxIDLen     = 64  // node ids, which also appear in topics
	MaxKindLen   = 32  // task kind names
	MaxKinds     = 16  // kinds in one birth
	MaxTextLen   = 255 // software version strings
	MaxBatch     = 1024
	MaxReasonLen = 4096 // maximum length of a failure reason a node sends, in bytes
)

// Decoding errors. Decode wraps them with the field that failed, so callers
// test with errors.Is.
var (
	ErrTruncated   = errors.New("message truncated")
	ErrTrailing    = errors.New("trailing bytes after message")
	ErrMagic       = errors.New("not an mqcluster message (bad magic byte)")
	ErrVersion     = errors.New("unsupported protocol version")
	ErrUnknownType = errors.New("unknown message type")
	ErrInvalid     = errors.New("invalid field")
)

// Message is implemented by every decoded message type.
type Message interface {
	Type() Type
	// appendBody appends the encoded body, without the header.
	appendBody(b []byte) ([]byte, error)
}

// DeathReason is the cause of a node leaving.
type DeathReason byte

// Reasons carried in a death message.
const (
	DeathConnectionLost DeathReason = 0 // published by the broker as the will
	DeathLeft           DeathReason = 1 // published by the node when it shuts down cleanly
)

// Status is the outcome of one task attempt.
type Status byte

// Result statuses.
const (
	StatusOK     Status = 0 // Data contains the task output
	StatusFailed Status = 1 // Data contains a UTF-8 reason
	// StatusDeclined means the node did not run the task, because it is
	// draining, is busy, or received an abort for it. Data contains the
	// reason. Unless its job was cancelled, the task runs elsewhere, and the
	// attempt does not count against the task's maximum.
	StatusDeclined Status = 2
)

// Birth announces a node and what it can run. The node publishes it retained
// on every connection, with a new Session each time [P-10].
type Birth struct {
	Session     uint32   // per-connection number; the will of this connection carries the same one
	Slots       uint16   // tasks the node runs at once
	Batch       uint16   // most tasks the node accepts in one tasks message
	Prefetch    uint16   // tasks the node holds beyond Slots, each waiting for a slot to free
	MaxPayload  uint32   // largest task payload the node accepts, in bytes
	HeartbeatMS uint32   // interval between the node's heartbeats
	Draining    bool     // the node finishes the tasks it holds and takes no more
	NodeID      string   // must equal the id in the topic
	Software    string   // software name and version, for display
	Kinds       []string // task kinds the node runs
}

// Death marks a node offline. Its Session identifies the connection that ended.
type Death struct {
	Session uint32
	Reason  DeathReason
}

// TaskRef names one attempt of one task.
type TaskRef struct {
	ID      uint64
	Attempt uint16
}

// Heartbeat lists the tasks a node holds, queued or running [P-20].
type Heartbeat struct {
	Session uint32
	Running []TaskRef
}

// Task is one unit of work sent to a node. Payload is opaque to the protocol:
// its kind defines it.
type Task struct {
	ID         uint64
	Attempt    uint16
	DeadlineMS uint32 // how long the coordinator waits before it runs the task elsewhere
	Kind       string
	Payload    []byte
}

// Tasks carries one or more tasks to one node [P-30].
type Tasks struct {
	Epoch uint32 // the coordinator's epoch, from its presence message
	Tasks []Task
}

// Result is the outcome of one task attempt.
type Result struct {
	ID      uint64
	Attempt uint16
	Status  Status
	Data    []byte // output when Status is StatusOK, else the reason
}

// Results carries one or more results from one node [P-31].
type Results struct {
	Session uint32
	Results []Result
}

// CoordinatorOnline is the coordinator's retained presence. A new Epoch means
// the coordinator restarted, and nodes announce themselves again [P-40].
type CoordinatorOnline struct {
	Epoch    uint32
	Software string
}

// CoordinatorOffline is the coordinator's will.
type CoordinatorOffline struct {
	Epoch uint32
}

// Abort instructs a node to stop tasks of a cancelled job: drop those not
// started, stop those running if it can, and reply to each with a declined
// result [P-33].
type Abort struct {
	Epoch uint32
	Tasks []TaskRef
}

func (*Birth) Type() Type              { return TypeBirth }
func (*Death) Type() Type              { return TypeDeath }
func (*Heartbeat) Type() Type          { return TypeHeartbeat }
func (*Tasks) Type() Type              { return TypeTasks }
func (*Results) Type() Type            { return TypeResults }
func (*CoordinatorOnline) Type() Type  { return TypeCoordinatorOnline }
func (*CoordinatorOffline) Type() Type { return TypeCoordinatorOffline }
func (*Abort) Type() Type              { return TypeAbort }
