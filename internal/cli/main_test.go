package cli

import (
	"os"
	"testing"

	"github.com/jetway-dev/jetway/internal/testbed"
)

var bed testbed.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	bed.Close()
	os.Exit(code)
}
