// Package builtin holds task kinds for trying and measuring a cluster:
// "noop" returns its payload, "sleep" waits for the time its payload names.
package builtin

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mqcluster/mqcluster/api"
)

// Kind names.
const (
	NoopKind  = "noop"
	SleepKind = "sleep"
)

// Noop returns the payload unchanged.
func Noop(_ context.Context, payload []byte) ([]byte, error) {
	return payload, nil
}

// SleepPayload encodes a sleep task: the duration in milliseconds as a
// big-endian uint32.
func SleepPayload(d time.Duration) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(d.Milliseconds()))
}

// Sleep waits for the duration in its payload, or until ctx ends, and
// returns an empty output.
func Sleep(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) != 4 {
		return nil, fmt.Errorf("sleep payload is %d bytes, want 4 (milliseconds, big-endian)", len(payload))
	}
	d := time.Duration(binary.BigEndian.Uint32(payload)) * time.Millisecond
	select {
	case <-time.After(d):
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Tasks returns n tasks of kind that all carry payload, such as a job of
// sleep tasks for a test or a benchmark.
func Tasks(kind string, payload []byte, n int) []api.TaskSpec {
	tasks := make([]api.TaskSpec, n)
	for i := range tasks {
		tasks[i] = api.TaskSpec{Kind: kind, Payload: payload}
	}
	return tasks
}
