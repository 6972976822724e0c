package dockerhost

import (
	"os"
	"testing"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// bed is the remote Docker host (sshd + dockerd in a namespace), a local
// dockerd and a registry, shared by this package's integration tests.
var bed testbed.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	bed.Close()
	os.Exit(code)
}
