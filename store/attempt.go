package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// attemptFormat starts a binary attempt record. Files written before it
// hold JSON, which starts with '{', and still load.
const attemptFormat = 1

// encodeAttempt encodes a without its key fields. It is binary rather than
// JSON because the coordinator writes an attempt on every dispatch and
// every result, under its lock. The layout is the format byte; started,
// deadline and ended in Unix nanoseconds (0 for a zero time); state and
// node after a one-byte length; the error after a two-byte length.
func encodeAttempt(a AttemptRecord) []byte {
	errText := a.Error
	if len(errText) > 0xffff {
		errText = errText[:0xffff]
	}
	b := make([]byte, 0, 1+3*8+2+len(a.State)+len(a.Node)+2+len(errText))
	b = append(b, attemptFormat)
	for _, t := range []time.Time{a.Started, a.Deadline, a.Ended} {
		b = binary.BigEndian.AppendUint64(b, uint64(unixNano(t)))
	}
	b = append(b, byte(len(a.State)))
	b = append(b, a.State...)
	b = append(b, byte(len(a.Node)))
	b = append(b, a.Node...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(errText)))
	return append(b, errText...)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

var errAttemptTruncated = errors.New("attempt record is truncated")

// decodeAttempt reads an attempt record in either format into a, whose
// key fields the caller has set.
func decodeAttempt(v []byte, a *AttemptRecord) error {
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, a)
	}
	if len(v) < 1+3*8+1 || v[0] != attemptFormat {
		return fmt.Errorf("attempt record of %d bytes is not in format %d", len(v), attemptFormat)
	}
	a.Started = fromUnixNano(int64(binary.BigEndian.Uint64(v[1:])))
	a.Deadline = fromUnixNano(int64(binary.BigEndian.Uint64(v[9:])))
	a.Ended = fromUnixNano(int64(binary.BigEndian.Uint64(v[17:])))
	rest := v[25:]
	var ok bool
	if a.State, rest, ok = cutString(rest, 1); !ok {
		return errAttemptTruncated
	}
	if a.Node, rest, ok = cutString(rest, 1); !ok {
		return errAttemptTruncated
	}
	if a.Error, rest, ok = cutString(rest, 2); !ok {
		return errAttemptTruncated
	}
	if len(rest) > 0 {
		return fmt.Errorf("attempt record has %d bytes after its end", len(rest))
	}
	return nil
}

// cutString reads a string after a big-endian length of lenSize bytes.
func cutString(b []byte, lenSize int) (s string, rest []byte, ok bool) {
	if len(b) < lenSize {
		return "", nil, false
	}
	n := int(b[0])
	if lenSize == 2 {
		n = int(binary.BigEndian.Uint16(b))
	}
	b = b[lenSize:]
	if len(b) < n {
		return "", nil, false
	}
	return string(b[:n]), b[n:], true
}
