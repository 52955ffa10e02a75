package bench

import (
	"os"
	"testing"

	"github.com/mqcluster/mqcluster/internal/testenv"
)

// TestMain removes the mqcluster binary that the failover figure runs.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinary()
	os.Exit(code)
}
