package server

import (
	"testing"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// bed is the test bed of this package's tests with a real Docker host
// (closed in TestMain).
var bed testbed.Shared

// SharedBed gives the tests of package server_test the bed.
func SharedBed(t testing.TB) *testbed.Bed { return bed.Get(t) }
