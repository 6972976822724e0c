package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
)

// Migration is one step of a component's schema. Up runs in the
// migration's transaction; it is given the DB for its dialect.
type Migration struct {
	// Name says what the step does, for logs and errors.
	Name string
	Up   func(ctx context.Context, tx *Tx) error
}

// Statements is a migration step that runs fixed SQL, one text for each
// engine (the same text when they agree).
func Statements(sqlite, postgres string) func(ctx context.Context, tx *Tx) error {
	return func(ctx context.Context, tx *Tx) error {
		q := sqlite
		if tx.db.Dialect == Postgres {
			q = postgres
		}
		_, err := tx.Tx.ExecContext(ctx, q)
		return err
	}
}

// SchemaTooNewError refuses a database that a newer jetway has migrated.
type SchemaTooNewError struct {
	Component      string
	Have, Supports int
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the database's %s schema is at version %d, newer than this jetway knows (%d): a newer jetway has upgraded it; run that version (or newer), or restore a backup made before the upgrade", e.Component, e.Have, e.Supports)
}

// Version returns the schema version of component (0: none applied).
func (db *DB) Version(ctx context.Context, component string) (int, error) {
	if err := db.ensureVersionTable(ctx); err != nil {
		return 0, err
	}
	var v int
	err := db.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE component = ?`, component).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return v, nil
}

// ensureVersionTable makes the table of schema versions. On PostgreSQL,
// servers starting together on a new database would race to create it
// (IF NOT EXISTS does not make that safe): they take turns under an
// advisory lock.
func (db *DB) ensureVersionTable(ctx context.Context) error {
	const create = `CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)`
	if db.Dialect != Postgres {
		_, err := db.ExecContext(ctx, create)
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, advisoryKey("jetway schema_versions")); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return err
	}
	return tx.Commit()
}

// advisoryKey is a PostgreSQL advisory lock's key for name.
func advisoryKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Migrate brings component's schema to the last of migrations, each step
// in a transaction with the version it reaches, so a step is applied
// entirely or not at all. On PostgreSQL an advisory lock makes replicas
// that start together take turns. A database at a newer version than
// len(migrations) is refused with *SchemaTooNewError.
func (db *DB) Migrate(ctx context.Context, component string, migrations []Migration) error {
	if err := db.ensureVersionTable(ctx); err != nil {
		return fmt.Errorf("preparing schema versions: %w", err)
	}
	for {
		done, err := db.migrateStep(ctx, component, migrations)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next pending migration, if any, and reports
// whether none was left.
func (db *DB) migrateStep(ctx context.Context, component string, migrations []Migration) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if db.Dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, advisoryKey("jetway schema "+component)); err != nil {
			return false, err
		}
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE component = ?`, component).Scan(&have); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if have > len(migrations) {
		return false, &SchemaTooNewError{Component: component, Have: have, Supports: len(migrations)}
	}
	if have == len(migrations) {
		return true, nil
	}
	m := migrations[have]
	if err := m.Up(ctx, tx); err != nil {
		return false, fmt.Errorf("upgrading the %s schema to version %d (%s): %w", component, have+1, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version`, component, have+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}
