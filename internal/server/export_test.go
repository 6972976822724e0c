package server

import (
	"context"
	"testing"

	"github.com/jetway-dev/jetway/internal/serverdb"
)

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

// openServer starts a server on stores opened as jetway server opens
// them: in opts.DataDir's SQLite databases, or in the PostgreSQL database
// named by database.
func openServer(ctx context.Context, opts Options, database string) (*Server, error) {
	var onError func(error)
	if opts.Metrics != nil {
		onError = func(error) { opts.Metrics.StoreError() }
	}
	st, err := serverdb.Open(ctx, serverdb.Options{DataDir: opts.DataDir, Database: database, OnError: onError})
	if err != nil {
		return nil, err
	}
	opts.Store, opts.Params = st.Runs, st.Params
	return New(ctx, opts)
}
