package params

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// CopyStats counts what CopyStore copied (rows the target already held
// are not counted).
type CopyStats struct {
	ParameterVersions, Secrets, SecretVersions int
}

// ErrCopyConflict is a target that holds other content under a name the
// source has.
var ErrCopyConflict = errors.New("the target parameter store holds other values")

// CopyStore copies every parameter version and every secret with its
// versions from one store to another (jetway server migrate: SQLite to
// PostgreSQL), still sealed: both stores must have the same master key.
// It runs in one transaction of the target, and may be run again: rows the
// target already holds unchanged are skipped, and a row it holds with
// other content stops the copy with ErrCopyConflict, leaving the target
// as it was. Access key pairs are not copied: scoped pairs are short-lived,
// and the admin pair goes with the data dir's credentials file (OpenKeys
// on PostgreSQL adopts it).
func CopyStore(ctx context.Context, from, to *Store) (CopyStats, error) {
	var stats CopyStats
	if from.sealer.check != to.sealer.check {
		return stats, fmt.Errorf("%w: copying parameters needs the same master key on both sides (secure values are copied sealed, never decrypted): open the target with the source's master key file", ErrWrongMasterKey)
	}
	if from.db == to.db {
		return stats, errors.New("copying a parameter store onto itself")
	}
	tx, err := to.db.BeginTx(ctx, nil)
	if err != nil {
		return stats, err
	}
	defer tx.Rollback()
	if stats.ParameterVersions, err = copyParameters(ctx, from.db, tx); err != nil {
		return stats, err
	}
	if stats.Secrets, stats.SecretVersions, err = copySecrets(ctx, from.db, tx); err != nil {
		return stats, err
	}
	for _, t := range []struct{ table, columns, key string }{
		{"param_labels", "name, label, version", "name, label"},
		{"params_tags", "kind, name, tag_key, tag_value", "kind, name, tag_key"},
		{"secret_stages", "name, stage, version_id", "name, stage"},
	} {
		if err := copyTable(ctx, from.db, tx, t.table, t.columns, t.key); err != nil {
			return stats, err
		}
	}
	return stats, tx.Commit()
}

type paramRow struct {
	name        string
	version     int64
	typ         string
	value       []byte
	description string
	modifiedAt  int64
	modifiedBy  string
	tier        string
	dataType    string
	allowed     string
}

func (r *paramRow) scan(row interface{ Scan(...any) error }) error {
	return row.Scan(&r.name, &r.version, &r.typ, &r.value, &r.description, &r.modifiedAt, &r.modifiedBy, &r.tier, &r.dataType, &r.allowed)
}

func (r paramRow) equal(o paramRow) bool {
	return r.name == o.name && r.version == o.version && r.typ == o.typ && bytes.Equal(r.value, o.value) &&
		r.description == o.description && r.modifiedAt == o.modifiedAt && r.modifiedBy == o.modifiedBy &&
		r.tier == o.tier && r.dataType == o.dataType && r.allowed == o.allowed
}

func copyParameters(ctx context.Context, from *sqldb.DB, to *sqldb.Tx) (int, error) {
	rows, err := from.QueryContext(ctx, `SELECT `+paramColumns+` FROM param_versions ORDER BY name, version`)
	if err != nil {
		return 0, fmt.Errorf("reading the source's parameters: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var r paramRow
		if err := r.scan(rows); err != nil {
			return n, err
		}
		res, err := to.ExecContext(ctx, `INSERT INTO param_versions (`+paramColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, version) DO NOTHING`,
			r.name, r.version, r.typ, r.value, r.description, r.modifiedAt, r.modifiedBy, r.tier, r.dataType, r.allowed)
		if err != nil {
			return n, fmt.Errorf("copying parameter %s version %d: %w", r.name, r.version, err)
		}
		if added, _ := res.RowsAffected(); added == 1 {
			n++
			continue
		}
		var have paramRow
		if err := have.scan(to.QueryRowContext(ctx, `SELECT `+paramColumns+` FROM param_versions WHERE name = ? AND version = ?`, r.name, r.version)); err != nil {
			return n, err
		}
		if !have.equal(r) {
			return n, fmt.Errorf("%w: parameter %s version %d differs from the source's; copy into an empty database", ErrCopyConflict, r.name, r.version)
		}
	}
	return n, rows.Err()
}

type secretRow struct {
	name, arn, description string
	createdAt, changedAt   int64
	deletedAt              sql.NullInt64
	current, previous      string
}

const secretColumns = `name, arn, description, created_at, changed_at, deleted_at, current, previous`

func (r *secretRow) scan(row interface{ Scan(...any) error }) error {
	return row.Scan(&r.name, &r.arn, &r.description, &r.createdAt, &r.changedAt, &r.deletedAt, &r.current, &r.previous)
}

type secretVersionRow struct {
	name, versionID string
	value           []byte
	binary          bool
	createdAt       int64
}

const secretVersionColumns = `name, version_id, value, is_binary, created_at`

func (r *secretVersionRow) scan(row interface{ Scan(...any) error }) error {
	return row.Scan(&r.name, &r.versionID, &r.value, &r.binary, &r.createdAt)
}

func (r secretVersionRow) equal(o secretVersionRow) bool {
	return r.name == o.name && r.versionID == o.versionID && bytes.Equal(r.value, o.value) && r.binary == o.binary && r.createdAt == o.createdAt
}

func copySecrets(ctx context.Context, from *sqldb.DB, to *sqldb.Tx) (secrets, versions int, err error) {
	rows, err := from.QueryContext(ctx, `SELECT `+secretColumns+` FROM secrets ORDER BY name`)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the source's secrets: %w", err)
	}
	var all []secretRow
	for rows.Next() {
		var r secretRow
		if err := r.scan(rows); err != nil {
			rows.Close()
			return 0, 0, err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	for _, r := range all {
		res, err := to.ExecContext(ctx, `INSERT INTO secrets (`+secretColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			r.name, r.arn, r.description, r.createdAt, r.changedAt, r.deletedAt, r.current, r.previous)
		if err != nil {
			return secrets, versions, fmt.Errorf("copying secret %s: %w", r.name, err)
		}
		if added, _ := res.RowsAffected(); added == 1 {
			secrets++
		} else {
			var have secretRow
			if err := have.scan(to.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE name = ?`, r.name)); err != nil {
				return secrets, versions, err
			}
			if have != r {
				return secrets, versions, fmt.Errorf("%w: secret %s differs from the source's; copy into an empty database", ErrCopyConflict, r.name)
			}
		}
	}
	vrows, err := from.QueryContext(ctx, `SELECT `+secretVersionColumns+` FROM secret_versions ORDER BY name, created_at`)
	if err != nil {
		return secrets, versions, fmt.Errorf("reading the source's secret versions: %w", err)
	}
	defer vrows.Close()
	for vrows.Next() {
		var r secretVersionRow
		if err := r.scan(vrows); err != nil {
			return secrets, versions, err
		}
		res, err := to.ExecContext(ctx, `INSERT INTO secret_versions (`+secretVersionColumns+`) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, version_id) DO NOTHING`,
			r.name, r.versionID, r.value, r.binary, r.createdAt)
		if err != nil {
			return secrets, versions, fmt.Errorf("copying a version of secret %s: %w", r.name, err)
		}
		if added, _ := res.RowsAffected(); added == 1 {
			versions++
			continue
		}
		var have secretVersionRow
		if err := have.scan(to.QueryRowContext(ctx, `SELECT `+secretVersionColumns+` FROM secret_versions WHERE name = ? AND version_id = ?`, r.name, r.versionID)); err != nil {
			return secrets, versions, err
		}
		if !have.equal(r) {
			return secrets, versions, fmt.Errorf("%w: version %s of secret %s differs from the source's; copy into an empty database", ErrCopyConflict, r.versionID, r.name)
		}
	}
	return secrets, versions, vrows.Err()
}

// copyTable copies a table of text and integer columns whose rows the
// target may already hold (then unchanged: a row of the same key with
// other content stops the copy with ErrCopyConflict).
func copyTable(ctx context.Context, from *sqldb.DB, to *sqldb.Tx, table, columns, key string) error {
	rows, err := from.QueryContext(ctx, `SELECT `+columns+` FROM `+table)
	if err != nil {
		return fmt.Errorf("reading the source's %s: %w", table, err)
	}
	defer rows.Close()
	n := len(strings.Split(columns, ","))
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		if _, err := to.ExecContext(ctx, `INSERT INTO `+table+` (`+columns+`) VALUES (?`+strings.Repeat(", ?", n-1)+`) ON CONFLICT (`+key+`) DO NOTHING`, vals...); err != nil {
			return fmt.Errorf("copying %s: %w", table, err)
		}
		where := strings.Join(strings.Split(columns, ", "), " = ? AND ") + " = ?"
		var same int
		if err := to.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+where, vals...).Scan(&same); err != nil {
			return err
		}
		if same != 1 {
			return fmt.Errorf("%w: a row of %s differs from the source's; copy into an empty database", ErrCopyConflict, table)
		}
	}
	return rows.Err()
}
