//go:build linux

package cli

import (
	"os"
	"testing"

	"github.com/jetway-dev/jetway/internal/sandbox"
	"github.com/jetway-dev/jetway/internal/testbed"
)

var bed testbed.Shared

func TestMain(m *testing.M) {
	// Runs made by these tests start this binary as their sandbox init.
	sandbox.RunInitIfAsked()
	code := m.Run()
	bed.Close()
	os.Exit(code)
}
