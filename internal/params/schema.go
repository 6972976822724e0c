package params

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// migrations are the parameter store's schema versions, component
// "params". Version 1 is the schema from before versioning, written with
// IF NOT EXISTS so that such a params.db is adopted unchanged.
var migrations = []sqldb.Migration{
	{Name: "parameters and secrets", Up: sqldb.Statements(`
CREATE TABLE IF NOT EXISTS param_versions (
	name        TEXT NOT NULL,
	version     INTEGER NOT NULL,
	type        TEXT NOT NULL,
	value       BLOB NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	modified_at INTEGER NOT NULL,
	modified_by TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS secrets (
	name        TEXT PRIMARY KEY,
	arn         TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	changed_at  INTEGER NOT NULL,
	deleted_at  INTEGER,
	current     TEXT NOT NULL,
	previous    TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS secret_versions (
	name       TEXT NOT NULL REFERENCES secrets(name) ON DELETE CASCADE,
	version_id TEXT NOT NULL,
	value      BLOB NOT NULL,
	is_binary  INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (name, version_id)
);`, `
CREATE TABLE IF NOT EXISTS param_versions (
	name        TEXT NOT NULL,
	version     BIGINT NOT NULL,
	type        TEXT NOT NULL,
	value       BYTEA NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	modified_at BIGINT NOT NULL,
	modified_by TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS secrets (
	name        TEXT PRIMARY KEY,
	arn         TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	changed_at  BIGINT NOT NULL,
	deleted_at  BIGINT,
	current     TEXT NOT NULL,
	previous    TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS secret_versions (
	name       TEXT NOT NULL REFERENCES secrets(name) ON DELETE CASCADE,
	version_id TEXT NOT NULL,
	value      BYTEA NOT NULL,
	is_binary  BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (name, version_id)
);`)},
	// The key check, and access keys every replica accepts: the admin pair
	// (at most one row with admin set) and scoped pairs, their secrets
	// sealed with the master key.
	{Name: "master key check and access keys", Up: sqldb.Statements(`
CREATE TABLE params_meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE params_access_keys (
	id         TEXT PRIMARY KEY,
	secret     BLOB NOT NULL,
	admin      INTEGER NOT NULL DEFAULT 0,
	parameters TEXT NOT NULL DEFAULT '[]',
	secrets    TEXT NOT NULL DEFAULT '[]',
	run_id     TEXT NOT NULL DEFAULT '',
	expires_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX params_access_keys_one_admin ON params_access_keys (admin) WHERE admin;
CREATE INDEX params_access_keys_expiry ON params_access_keys (expires_at);`, `
CREATE TABLE params_meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE params_access_keys (
	id         TEXT PRIMARY KEY,
	secret     BYTEA NOT NULL,
	admin      BOOLEAN NOT NULL DEFAULT false,
	parameters TEXT NOT NULL DEFAULT '[]',
	secrets    TEXT NOT NULL DEFAULT '[]',
	run_id     TEXT NOT NULL DEFAULT '',
	expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX params_access_keys_one_admin ON params_access_keys (admin) WHERE admin;
CREATE INDEX params_access_keys_expiry ON params_access_keys (expires_at);`)},
	// What the AWS tools set beside values: a parameter version's tier,
	// data type and allowed pattern, parameters' version labels, tags on
	// parameters and secrets (kind "parameter" or "secret"), and secrets'
	// staging labels other than AWSCURRENT and AWSPREVIOUS.
	{Name: "tiers, labels, tags and staging labels", Up: sqldb.Statements(v3, strings.Replace(v3, "version INTEGER NOT NULL", "version BIGINT NOT NULL", 1))},
}

// ErrWrongMasterKey is a master key other than the one the store's secure
// values are sealed with.
var ErrWrongMasterKey = errors.New("wrong master key")

const keyCheckName = "master_key_check"

// loadMasterKey reads the master key at keyFile and holds it against the
// store's record of the key its values are sealed with, recording it on
// first use. The key file is created only for a store that has never
// sealed anything.
func loadMasterKey(ctx context.Context, db *sqldb.DB, keyFile string) (*sealer, error) {
	var recorded string
	err := db.QueryRowContext(ctx, `SELECT value FROM params_meta WHERE name = ?`, keyCheckName).Scan(&recorded)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading the master key check: %w", err)
	}
	where := db.Dialect.String() + " database " + sqldb.Redact(db.URL)
	// A store from before the check is judged by one of its sealed values;
	// one with the check recorded needs none.
	var sample *sealedValue
	if recorded == "" {
		if sample, err = sealedSample(ctx, db); err != nil {
			return nil, err
		}
	}
	s, err := readKey(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && (recorded != "" || sample != nil):
		return nil, fmt.Errorf("%w: there is no master key at %s, but the parameter store in the %s holds values sealed with one: copy the master key file of the server that first used this database there (every server of one database needs the same key, --master-key-file)", ErrWrongMasterKey, keyFile, where)
	case errors.Is(err, fs.ErrNotExist):
		if s, err = createKey(keyFile); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("reading the master key: %w", err)
	}
	wrong := fmt.Errorf("%w: %s is not the master key the parameter store in the %s was sealed with: give every server the same master key file (--master-key-file), the one the first server used; restore it from a backup if it was replaced", ErrWrongMasterKey, keyFile, where)
	if recorded == "" {
		// A store from before the check: its values tell whether the key fits.
		if sample != nil {
			if _, err := s.open(sample.name, sample.value); err != nil {
				return nil, wrong
			}
		}
		// Of replicas starting together with different keys, the first
		// to record its key wins; the others are refused below.
		if _, err := db.ExecContext(ctx, `INSERT INTO params_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, keyCheckName, s.check); err != nil {
			return nil, fmt.Errorf("recording the master key check: %w", err)
		}
		if err := db.QueryRowContext(ctx, `SELECT value FROM params_meta WHERE name = ?`, keyCheckName).Scan(&recorded); err != nil {
			return nil, fmt.Errorf("reading the master key check: %w", err)
		}
	}
	if recorded != s.check {
		return nil, wrong
	}
	return s, nil
}

type sealedValue struct {
	name  string // the additional data it was sealed with
	value []byte
}

// sealedSample returns one sealed value of the store, or nil if it has
// none.
func sealedSample(ctx context.Context, db *sqldb.DB) (*sealedValue, error) {
	var v sealedValue
	err := db.QueryRowContext(ctx, `SELECT name, value FROM param_versions WHERE type = ? LIMIT 1`, TypeSecureString).Scan(&v.name, &v.value)
	if err == nil {
		return &v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	err = db.QueryRowContext(ctx, `SELECT name, value FROM secret_versions LIMIT 1`).Scan(&v.name, &v.value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	v.name = "secret:" + v.name
	return &v, err
}

// v3 is step 3 on SQLite; on PostgreSQL a label's version is a BIGINT, as
// param_versions' is.
const v3 = `
ALTER TABLE param_versions ADD COLUMN tier TEXT NOT NULL DEFAULT 'Standard';
ALTER TABLE param_versions ADD COLUMN data_type TEXT NOT NULL DEFAULT 'text';
ALTER TABLE param_versions ADD COLUMN allowed_pattern TEXT NOT NULL DEFAULT '';
CREATE TABLE param_labels (
	name    TEXT NOT NULL,
	label   TEXT NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (name, label)
);
CREATE TABLE params_tags (
	kind      TEXT NOT NULL,
	name      TEXT NOT NULL,
	tag_key   TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (kind, name, tag_key)
);
CREATE TABLE secret_stages (
	name       TEXT NOT NULL REFERENCES secrets(name) ON DELETE CASCADE,
	stage      TEXT NOT NULL,
	version_id TEXT NOT NULL,
	PRIMARY KEY (name, stage)
);`
