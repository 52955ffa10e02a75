package e2e

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/mqcluster/mqcluster/internal/testenv"
)

// Every test stops what it starts: coordinator loops, worker processes, MQTT clients
// and the broker.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		testenv.RemoveBinary()
		os.Exit(code)
	}))
}
