// Package serverdb opens what a jetway server keeps: the run store
// (internal/store) and the parameter store (internal/params), either in
// the data dir's SQLite databases or together in one PostgreSQL database
// that several servers share. The command that starts a server, and the
// tests that start one, open them here and hand them to server.New.
package serverdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/store"
)

// Options say where a server's data is.
type Options struct {
	// DataDir holds the embedded databases, and the master key by
	// default; it is made (0700) if missing.
	DataDir string
	// Database is a postgres:// URL for a database that several servers
	// share; empty for the embedded SQLite databases in DataDir.
	Database string
	// MasterKeyFile seals secret values, and what runs carry from their
	// deployers (default DATA/master.key); every server of one database
	// must be given the same.
	MasterKeyFile string
	// OnError, when set, is told of every failed database call (the
	// server's metrics count them).
	OnError func(error)
}

// Stores are a server's two stores, open and migrated.
type Stores struct {
	Runs   *store.Store
	Params *params.Store
}

// Open opens (creating) the stores opts names. The run store seals the
// values a run carries from its deployer (env.pass, -e) with the
// parameter store's master key, so a copy of the database reveals none.
func Open(ctx context.Context, opts Options) (Stores, error) {
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return Stores{}, fmt.Errorf("creating the data dir: %w", err)
	}
	if err := os.Chmod(opts.DataDir, 0o700); err != nil {
		return Stores{}, err
	}
	runs, err := store.OpenDatabase(ctx, opts.DataDir, opts.Database)
	if err != nil {
		return Stores{}, err
	}
	if opts.OnError != nil {
		// Before anything else uses the database.
		runs.DB().OnError = opts.OnError
	}
	// Secure values are sealed with the master key, which every server of
	// a shared database must be given (the database alone reveals no
	// value).
	masterKey := cmp.Or(opts.MasterKeyFile, filepath.Join(opts.DataDir, "master.key"))
	var ps *params.Store
	if runs.Shared() {
		ps, err = params.NewStore(ctx, runs.DB(), masterKey)
	} else {
		ps, err = params.OpenSQLiteStore(ctx, filepath.Join(opts.DataDir, "params.db"), masterKey)
	}
	if err != nil {
		runs.Close()
		return Stores{}, err
	}
	runs.SealWith(ps)
	return Stores{Runs: runs, Params: ps}, nil
}

// Close closes both stores.
func (s Stores) Close() error { return errors.Join(s.Params.Close(), s.Runs.Close()) }
