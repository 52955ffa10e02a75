package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Encode returns m as a complete message: header, then body.
func Encode(m Message) ([]byte, error) {
	return Append(nil, m)
}

// Append appends m, header included, to b.
func Append(b []byte, m Message) ([]byte, error) {
	b = append(b, Magic, Version, byte(m.Type()), 0)
	b, err := m.appendBody(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	return b, nil
}

// Decode parses one complete message. Byte slices in the result (payloads,
// outputs) alias b, so the caller must not reuse b while it holds them.
// The flags byte is reserved: senders write 0 and Decode ignores it [P-1].
func Decode(b []byte) (Message, error) {
	t, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	r := reader{buf: b[HeaderSize:]}
	var m Message
	switch t {
	case TypeBirth:
		m = r.birth()
	case TypeDeath:
		m = r.death()
	case TypeHeartbeat:
		m = r.heartbeat()
	case TypeTasks:
		m = r.tasks()
	case TypeResults:
		m = r.results()
	case TypeCoordinatorOnline:
		m = &CoordinatorOnline{Epoch: r.u32("epoch"), Software: r.str("software", MaxTextLen)}
	case TypeCoordinatorOffline:
		m = &CoordinatorOffline{Epoch: r.u32("epoch")}
	case TypeAbort:
		m = r.abort()
	}
	if r.err == nil && len(r.buf) > 0 {
		r.err = fmt.Errorf("%w: %d bytes", ErrTrailing, len(r.buf))
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode %s: %w", t, r.err)
	}
	return m, nil
}

// DecodeHeader checks the header of b and returns its message type.
func DecodeHeader(b []byte) (Type, error) {
	if len(b) < HeaderSize {
		return 0, fmt.Errorf("decode header: %w: %d bytes", ErrTruncated, len(b))
	}
	if b[0] != Magic {
		return 0, fmt.Errorf("decode header: %w: 0x%02x", ErrMagic, b[0])
	}
	if b[1] != Version {
		return 0, fmt.Errorf("decode header: %w: %d, this build speaks %d", ErrVersion, b[1], Version)
	}
	t := Type(b[2])
	if t < TypeBirth || t > TypeAbort {
		return 0, fmt.Errorf("decode header: %w: %d", ErrUnknownType, b[2])
	}
	return t, nil
}

func (m *Birth) appendBody(b []byte) ([]byte, error) {
	if err := validateBirth(m); err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint32(b, m.Session)
	b = binary.BigEndian.AppendUint16(b, m.Slots)
	b = binary.BigEndian.AppendUint16(b, m.Batch)
	b = binary.BigEndian.AppendUint16(b, m.Prefetch)
	b = binary.BigEndian.AppendUint32(b, m.MaxPayload)
	b = binary.BigEndian.AppendUint32(b, m.HeartbeatMS)
	b = append(b, boolByte(m.Draining))
	b = appendStr(b, m.NodeID)
	b = appendStr(b, truncate(m.Software, MaxTextLen))
	b = append(b, byte(len(m.Kinds)))
	for _, k := range m.Kinds {
		b = appendStr(b, k)
	}
	return b, nil
}

func (m *Death) appendBody(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, m.Session)
	return append(b, byte(m.Reason)), nil
}

func (m *Heartbeat) appendBody(b []byte) ([]byte, error) {
	if len(m.Running) > math.MaxUint16 {
		return nil, fmt.Errorf("%w: %d running tasks, at most %d", ErrInvalid, len(m.Running), math.MaxUint16)
	}
	b = binary.BigEndian.AppendUint32(b, m.Session)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Running)))
	for _, t := range m.Running {
		b = binary.BigEndian.AppendUint64(b, t.ID)
		b = binary.BigEndian.AppendUint16(b, t.Attempt)
	}
	return b, nil
}

func (m *Tasks) appendBody(b []byte) ([]byte, error) {
	if len(m.Tasks) == 0 || len(m.Tasks) > MaxBatch {
		return nil, fmt.Errorf("%w: %d tasks, need 1 to %d", ErrInvalid, len(m.Tasks), MaxBatch)
	}
	b = binary.BigEndian.AppendUint32(b, m.Epoch)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Tasks)))
	for _, t := range m.Tasks {
		if err := ValidateKind(t.Kind); err != nil {
			return nil, err
		}
		if uint64(len(t.Payload)) > math.MaxUint32 {
			return nil, fmt.Errorf("%w: task %d payload of %d bytes", ErrInvalid, t.ID, len(t.Payload))
		}
		b = binary.BigEndian.AppendUint64(b, t.ID)
		b = binary.BigEndian.AppendUint16(b, t.Attempt)
		b = binary.BigEndian.AppendUint32(b, t.DeadlineMS)
		b = appendStr(b, t.Kind)
		b = binary.BigEndian.AppendUint32(b, uint32(len(t.Payload)))
		b = append(b, t.Payload...)
	}
	return b, nil
}

func (m *Results) appendBody(b []byte) ([]byte, error) {
	if len(m.Results) == 0 || len(m.Results) > MaxBatch {
		return nil, fmt.Errorf("%w: %d results, need 1 to %d", ErrInvalid, len(m.Results), MaxBatch)
	}
	b = binary.BigEndian.AppendUint32(b, m.Session)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Results)))
	for _, r := range m.Results {
		if r.Status > StatusDeclined {
			return nil, fmt.Errorf("%w: task %d status %d", ErrInvalid, r.ID, r.Status)
		}
		if uint64(len(r.Data)) > math.MaxUint32 {
			return nil, fmt.Errorf("%w: task %d output of %d bytes", ErrInvalid, r.ID, len(r.Data))
		}
		b = binary.BigEndian.AppendUint64(b, r.ID)
		b = binary.BigEndian.AppendUint16(b, r.Attempt)
		b = append(b, byte(r.Status))
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b, nil
}

func (m *CoordinatorOnline) appendBody(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, m.Epoch)
	return appendStr(b, truncate(m.Software, MaxTextLen)), nil
}

func (m *CoordinatorOffline) appendBody(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(b, m.Epoch), nil
}

func (m *Abort) appendBody(b []byte) ([]byte, error) {
	if len(m.Tasks) == 0 || len(m.Tasks) > MaxBatch {
		return nil, fmt.Errorf("%w: %d tasks to abort, need 1 to %d", ErrInvalid, len(m.Tasks), MaxBatch)
	}
	b = binary.BigEndian.AppendUint32(b, m.Epoch)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Tasks)))
	for _, t := range m.Tasks {
		b = binary.BigEndian.AppendUint64(b, t.ID)
		b = binary.BigEndian.AppendUint16(b, t.Attempt)
	}
	return b, nil
}

func appendStr(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
