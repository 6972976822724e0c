package server

import "testing"

// SharedPG gives the tests of package server_test a throw-away
// PostgreSQL database (the cluster is closed in TestMain).
func SharedPG(t testing.TB) string { return attackPG.DB(t) }

// SetMaxRunChunks lowers the bound of a run's uploaded chunks until the
// test ends; call it before starting the server.
func SetMaxRunChunks(t testing.TB, n int) {
	old := maxRunChunks
	maxRunChunks = n
	t.Cleanup(func() { maxRunChunks = old })
}
