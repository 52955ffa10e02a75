package coordinator_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops what it starts: coordinator loops, workers, MQTT clients
// and the broker.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
