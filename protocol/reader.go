package protocol

import (
	"encoding/binary"
	"fmt"
)

// reader walks a message body. The first error sticks, and every later read
// returns a zero value, so decoders read a whole message and check once.
type reader struct {
	buf []byte
	err error
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.buf) {
		r.err = fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, field, n, len(r.buf))
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

func (r *reader) u8(field string) byte {
	if b := r.take(field, 1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if b := r.take(field, 2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if b := r.take(field, 4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if b := r.take(field, 8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) flag(field string) bool {
	v := r.u8(field)
	if r.err == nil && v > 1 {
		r.err = fmt.Errorf("%w: %s is %d, want 0 or 1", ErrInvalid, field, v)
	}
	return v == 1
}

func (r *reader) str(field string, maxLen int) string {
	n := int(r.u8(field + " length"))
	if r.err == nil && n > maxLen {
		r.err = fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalid, field, n, maxLen)
	}
	return string(r.take(field, n))
}

// count reads a 16-bit element count and checks that the rest of the message
// can hold that many elements of at least minSize bytes, so a forged count
// cannot make the decoder allocate more than the message is worth.
func (r *reader) count(field string, minSize, maxCount int) int {
	n := int(r.u16(field))
	if r.err != nil {
		return 0
	}
	if n > maxCount {
		r.err = fmt.Errorf("%w: %s %d, at most %d", ErrInvalid, field, n, maxCount)
		return 0
	}
	if n*minSize > len(r.buf) {
		r.err = fmt.Errorf("%w: %s %d needs at least %d bytes, %d left", ErrTruncated, field, n, n*minSize, len(r.buf))
		return 0
	}
	return n
}

func (r *reader) birth() *Birth {
	m := &Birth{
		Session:     r.u32("session"),
		Slots:       r.u16("slots"),
		Batch:       r.u16("batch"),
		Prefetch:    r.u16("prefetch"),
		MaxPayload:  r.u32("max payload"),
		HeartbeatMS: r.u32("heartbeat interval"),
		Draining:    r.flag("draining"),
		NodeID:      r.str("node id", MaxIDLen),
		Software:    r.str("software", MaxTextLen),
	}
	n := int(r.u8("kind count"))
	for i := 0; i < n && r.err == nil; i++ {
		m.Kinds = append(m.Kinds, r.str("kind", MaxKindLen))
	}
	r.check(func() error { return validateBirth(m) })
	return m
}

func validateBirth(m *Birth) error {
	if err := ValidateNodeID(m.NodeID); err != nil {
		return err
	}
	if m.Slots == 0 || m.Batch == 0 || m.Batch > MaxBatch {
		return fmt.Errorf("%w: slots %d and batch %d must be at least 1, batch at most %d", ErrInvalid, m.Slots, m.Batch, MaxBatch)
	}
	if len(m.Kinds) == 0 || len(m.Kinds) > MaxKinds {
		return fmt.Errorf("%w: %d kinds, need 1 to %d", ErrInvalid, len(m.Kinds), MaxKinds)
	}
	for _, k := range m.Kinds {
		if err := ValidateKind(k); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) death() *Death {
	m := &Death{Session: r.u32("session"), Reason: DeathReason(r.u8("reason"))}
	if r.err == nil && m.Reason > DeathLeft {
		r.err = fmt.Errorf("%w: death reason %d", ErrInvalid, m.Reason)
	}
	return m
}

func (r *reader) heartbeat() *Heartbeat {
	m := &Heartbeat{Session: r.u32("session")}
	n := r.count("running count", 10, 1<<16)
	if n > 0 {
		m.Running = make([]TaskRef, n)
	}
	for i := range m.Running {
		m.Running[i] = TaskRef{ID: r.u64("task id"), Attempt: r.u16("attempt")}
	}
	return m
}

func (r *reader) abort() *Abort {
	m := &Abort{Epoch: r.u32("epoch")}
	n := r.count("task count", 10, MaxBatch)
	if r.err == nil && n == 0 {
		r.err = fmt.Errorf("%w: task count 0", ErrInvalid)
	}
	m.Tasks = make([]TaskRef, n)
	for i := range m.Tasks {
		m.Tasks[i] = TaskRef{ID: r.u64("task id"), Attempt: r.u16("attempt")}
	}
	return m
}

// taskMinSize is a task with an empty kind and an empty payload:
// id, attempt, deadline, kind length, payload length.
const taskMinSize = 8 + 2 + 4 + 1 + 4

func (r *reader) tasks() *Tasks {
	m := &Tasks{Epoch: r.u32("epoch")}
	n := r.count("task count", taskMinSize, MaxBatch)
	if r.err == nil && n == 0 {
		r.err = fmt.Errorf("%w: task count 0", ErrInvalid)
	}
	m.Tasks = make([]Task, n)
	for i := range m.Tasks {
		t := &m.Tasks[i]
		t.ID = r.u64("task id")
		t.Attempt = r.u16("attempt")
		t.DeadlineMS = r.u32("deadline")
		t.Kind = r.str("kind", MaxKindLen)
		t.Payload = r.take("payload", int(r.u32("payload length")))
		r.check(func() error { return ValidateKind(t.Kind) })
	}
	return m
}

// resultMinSize is a result with no data: id, attempt, status, data length.
const resultMinSize = 8 + 2 + 1 + 4

func (r *reader) results() *Results {
	m := &Results{Session: r.u32("session")}
	n := r.count("result count", resultMinSize, MaxBatch)
	if r.err == nil && n == 0 {
		r.err = fmt.Errorf("%w: result count 0", ErrInvalid)
	}
	m.Results = make([]Result, n)
	for i := range m.Results {
		res := &m.Results[i]
		res.ID = r.u64("task id")
		res.Attempt = r.u16("attempt")
		res.Status = Status(r.u8("status"))
		res.Data = r.take("data", int(r.u32("data length")))
		if r.err == nil && res.Status > StatusDeclined {
			r.err = fmt.Errorf("%w: status %d", ErrInvalid, res.Status)
		}
	}
	return m
}

func (r *reader) check(f func() error) {
	if r.err == nil {
		r.err = f()
	}
}
