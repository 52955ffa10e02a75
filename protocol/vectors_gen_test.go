package protocol

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
)

type catalogueEntry struct {
	name, about string
	msg         Message // a valid message, or nil
	raw         string  // hex of an invalid message
	err         string
}

// catalogue is the source of vectors.txt. After a deliberate protocol change,
// run `go test ./protocol -run TestVectors -update`, review the diff of
// vectors.txt and change docs/protocol.md and the C decoder with it.
var catalogue = []catalogueEntry{
	{name: "birth_go_worker", about: "a Go worker with 4 slots that holds 4 more tasks, takes 8 a message and has two kinds",
		msg: &Birth{Session: 1764864000, Slots: 4, Batch: 8, Prefetch: 4, MaxPayload: 16 << 20, HeartbeatMS: 1000,
			NodeID: "laptop-1", Software: "mqcluster/0.1.0", Kinds: []string{"image.gray", "noop"}}},
	{name: "birth_esp32", about: "an ESP32 named by its MAC: one slot, one task a message, a 128x128 RGB tile at most",
		msg: &Birth{Session: 3, Slots: 1, Batch: 1, MaxPayload: 6 + 128*128*3, HeartbeatMS: 2000,
			NodeID: "a4:cf:12:0b:3e:01", Software: "mqcluster-fw/0.1.0", Kinds: []string{"image.gray"}}},
	{name: "birth_draining", about: "a node that is shutting down: it finishes its tasks and takes no more",
		msg: &Birth{Session: 4, Slots: 2, Batch: 2, MaxPayload: 1 << 20, HeartbeatMS: 1000, Draining: true,
			NodeID: "rpi-1", Software: "mqcluster/0.1.0", Kinds: []string{"noop"}}},
	{name: "death_will", about: "the will of session 3, published by the broker when the connection dies",
		msg: &Death{Session: 3, Reason: DeathConnectionLost}},
	{name: "death_left", about: "a node that shuts down cleanly",
		msg: &Death{Session: 1764864000, Reason: DeathLeft}},
	{name: "heartbeat_idle", about: "a heartbeat of a node that holds no task",
		msg: &Heartbeat{Session: 3}},
	{name: "heartbeat_two", about: "a heartbeat of a node that holds two tasks",
		msg: &Heartbeat{Session: 3, Running: []TaskRef{{ID: 1, Attempt: 1}, {ID: 0x0102030405060708, Attempt: 2}}}},
	{name: "tasks_one_tile", about: "one image.gray task: 8-bit, luma, a 2x1 tile of red and green",
		msg: &Tasks{Epoch: 5, Tasks: []Task{{ID: 42, Attempt: 1, DeadlineMS: 30000, Kind: "image.gray",
			Payload: mustHex("080000020001ff000000ff00")}}}},
	{name: "tasks_batch", about: "two noop tasks in one message, the second with an empty payload",
		msg: &Tasks{Epoch: 5, Tasks: []Task{
			{ID: 43, Attempt: 1, DeadlineMS: 1000, Kind: "noop", Payload: []byte("hi")},
			{ID: 44, Attempt: 3, DeadlineMS: 1000, Kind: "noop"}}}},
	{name: "results_ok_and_failed", about: "two results in one message: the output of tasks_one_tile and a failure reason",
		msg: &Results{Session: 3, Results: []Result{
			{ID: 42, Attempt: 1, Status: StatusOK, Data: mustHex("4c96")},
			{ID: 43, Attempt: 1, Status: StatusFailed, Data: []byte("payload too large")}}}},
	{name: "results_declined", about: "a task declined by a draining node",
		msg: &Results{Session: 4, Results: []Result{{ID: 45, Attempt: 2, Status: StatusDeclined, Data: []byte("draining")}}}},
	{name: "coordinator_online", about: "the coordinator's retained presence",
		msg: &CoordinatorOnline{Epoch: 5, Software: "mqcluster/0.1.0"}},
	{name: "coordinator_offline", about: "the coordinator's will",
		msg: &CoordinatorOffline{Epoch: 5}},
	{name: "abort_two", about: "abort two tasks of a cancelled job",
		msg: &Abort{Epoch: 5, Tasks: []TaskRef{{ID: 42, Attempt: 1}, {ID: 44, Attempt: 3}}}},

	{name: "bad_empty", about: "an empty payload", raw: "", err: "truncated"},
	{name: "bad_magic", about: "a JSON payload from some other program", raw: "7b2274797065223a317d", err: "magic"},
	{name: "bad_version", about: "protocol version 2", raw: "4d02020000000003 00", err: "version"},
	{name: "bad_type", about: "message type 9", raw: "4d01090000000003", err: "unknown-type"},
	{name: "bad_abort_empty", about: "an abort with no task", raw: "4d010800000000050000", err: "invalid"},
	{name: "bad_truncated_death", about: "a death with the reason byte missing", raw: "4d01020000000003", err: "truncated"},
	{name: "bad_death_reason", about: "a death with reason 7", raw: "4d0102000000000307", err: "invalid"},
	{name: "bad_trailing", about: "a death with one byte too many", raw: "4d010200000000030000", err: "trailing"},
	{name: "bad_node_id", about: "a birth whose node id holds a slash",
		raw: "4d010100000000030001000100000010000000000003612f620000", err: "invalid"},
	{name: "bad_no_tasks", about: "a tasks message with a task count of 0", raw: "4d010400000000050000", err: "invalid"},
	{name: "bad_task_count", about: "a task count of 1000 in a 10-byte body", raw: "4d0104000000000503e8", err: "truncated"},
	{name: "bad_payload_length", about: "a task whose payload length runs past the end",
		raw: "4d01040000000005000100000000000000010001000003e8046e6f6f70000000ff01", err: "truncated"},
	{name: "bad_kind", about: "a task kind in upper case",
		raw: "4d01040000000005000100000000000000010001000003e8044e4f4f5000000000", err: "invalid"},
	{name: "bad_status", about: "a result with status 3",
		raw: "4d0105000000000300010000000000000001000103000000 00", err: "invalid"},
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func writeVectors(t *testing.T) {
	var out strings.Builder
	out.WriteString("# Byte-exact messages of docs/protocol.md, shared by the Go and C tests.\n")
	out.WriteString("# Generated by: go test ./protocol -run TestVectors -update\n")
	for _, e := range catalogue {
		b := mustHex(e.raw)
		if e.msg != nil {
			var err error
			if b, err = Encode(e.msg); err != nil {
				t.Fatalf("%s: %v", e.name, err)
			}
		}
		fmt.Fprintf(&out, "\nvector %s\nabout %s\n", e.name, e.about)
		for len(b) > 0 {
			n := min(len(b), 32)
			fmt.Fprintf(&out, "hex %x\n", b[:n])
			b = b[n:]
		}
		if e.msg != nil {
			for _, f := range fields(e.msg) {
				fmt.Fprintf(&out, "expect %s\n", f)
			}
		} else {
			fmt.Fprintf(&out, "error %s\n", e.err)
		}
		out.WriteString("end\n")
	}
	if err := os.WriteFile(vectorsPath, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
