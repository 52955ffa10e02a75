package protocol

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The shared catalogue of wire messages lives in testdata/protocol/vectors.txt.
// The C firmware's tests read the same file. Its format, line by line:
//
//	vector NAME
//	about TEXT               what the message is
//	hex HEX                  the bytes; several hex lines are joined
//	expect KEY=VALUE         the decoded fields, in the order fields() writes them
//	error NAME               for a message that must be rejected: the error kind
//	end
const vectorsPath = "../testdata/protocol/vectors.txt"

var update = flag.Bool("update", false, "rewrite testdata/protocol/vectors.txt from the Go encoder")

type vector struct {
	name   string
	about  string
	bytes  []byte
	expect []string
	err    string
}

func readVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var all []vector
	var cur *vector
	s := bufio.NewScanner(f)
	for line := 1; s.Scan(); line++ {
		text := strings.TrimSpace(s.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, value, _ := strings.Cut(text, " ")
		if key != "vector" && cur == nil {
			t.Fatalf("vectors.txt:%d: %q outside a vector", line, key)
		}
		switch key {
		case "vector":
			all = append(all, vector{name: value})
			cur = &all[len(all)-1]
		case "about":
			cur.about = value
		case "hex":
			b, err := hex.DecodeString(strings.ReplaceAll(value, " ", ""))
			if err != nil {
				t.Fatalf("vectors.txt:%d: %v", line, err)
			}
			cur.bytes = append(cur.bytes, b...)
		case "expect":
			cur.expect = append(cur.expect, value)
		case "error":
			cur.err = value
		case "end":
			cur = nil
		default:
			t.Fatalf("vectors.txt:%d: unknown key %q", line, key)
		}
	}
	if len(all) == 0 {
		t.Fatal("vectors.txt holds no vectors")
	}
	return all
}

// errorNames maps the error names of vectors.txt to the Go sentinels.
var errorNames = map[string]error{
	"truncated":    ErrTruncated,
	"trailing":     ErrTrailing,
	"magic":        ErrMagic,
	"version":      ErrVersion,
	"unknown-type": ErrUnknownType,
	"invalid":      ErrInvalid,
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	for _, v := range readVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			m, err := Decode(v.bytes)
			if v.err != "" {
				want, ok := errorNames[v.err]
				if !ok {
					t.Fatalf("unknown error name %q", v.err)
				}
				if !errors.Is(err, want) {
					t.Fatalf("Decode error = %v, want %s", err, v.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := fields(m); !equalLines(got, v.expect) {
				t.Errorf("decoded fields:\n got %q\nwant %q", got, v.expect)
			}
			again, err := Encode(m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(again, v.bytes) {
				t.Errorf("Encode(Decode(bytes)):\n got %x\nwant %x", again, v.bytes)
			}
		})
	}
}

func equalLines(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// fields returns the decoded value of m as KEY=VALUE lines: the "expect"
// lines of vectors.txt. Byte strings are written in hex.
func fields(m Message) []string {
	out := []string{"type=" + m.Type().String()}
	add := func(k string, v any) { out = append(out, fmt.Sprintf("%s=%v", k, v)) }
	switch m := m.(type) {
	case *Birth:
		add("session", m.Session)
		add("slots", m.Slots)
		add("batch", m.Batch)
		add("prefetch", m.Prefetch)
		add("max_payload", m.MaxPayload)
		add("heartbeat_ms", m.HeartbeatMS)
		add("draining", m.Draining)
		add("node_id", m.NodeID)
		add("software", m.Software)
		add("kinds", strings.Join(m.Kinds, ","))
	case *Death:
		add("session", m.Session)
		add("reason", m.Reason)
	case *Heartbeat:
		add("session", m.Session)
		add("running", len(m.Running))
		for i, r := range m.Running {
			add(fmt.Sprintf("running.%d", i), fmt.Sprintf("%d/%d", r.ID, r.Attempt))
		}
	case *Tasks:
		add("epoch", m.Epoch)
		add("tasks", len(m.Tasks))
		for i, task := range m.Tasks {
			p := fmt.Sprintf("task.%d.", i)
			add(p+"id", task.ID)
			add(p+"attempt", task.Attempt)
			add(p+"deadline_ms", task.DeadlineMS)
			add(p+"kind", task.Kind)
			add(p+"payload", hex.EncodeToString(task.Payload))
		}
	case *Results:
		add("session", m.Session)
		add("results", len(m.Results))
		for i, r := range m.Results {
			p := fmt.Sprintf("result.%d.", i)
			add(p+"id", r.ID)
			add(p+"attempt", r.Attempt)
			add(p+"status", r.Status)
			add(p+"data", hex.EncodeToString(r.Data))
		}
	case *CoordinatorOnline:
		add("epoch", m.Epoch)
		add("software", m.Software)
	case *CoordinatorOffline:
		add("epoch", m.Epoch)
	case *Abort:
		add("epoch", m.Epoch)
		add("tasks", len(m.Tasks))
		for i, r := range m.Tasks {
			add(fmt.Sprintf("task.%d", i), fmt.Sprintf("%d/%d", r.ID, r.Attempt))
		}
	}
	return out
}
