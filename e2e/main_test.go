package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops what it starts: coordinator loops, worker processes, MQTT clients
// and the broker.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
