package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// copied are the tables a move carries, with their columns, parents
// before children. Sessions stay behind: whoever is signed in signs in
// again on the new database.
var copied = []struct {
	table   string
	columns []string
}{
	{"runs", []string{"seq", "id", "project", "status", "reason", "env", "started_by", "git", "bundle", "project_file", "pass", "created_at", "started_at", "finished_at", "summary",
		"events_acked", "agent", "token_hash", "attempts", "cancel_requested", "log_seq", "runs_on", "rerun_of", "vars", "docker",
		"docker_host", "docker_pool", "dockerfile", "docker_host_name", "token_name", "grants"}},
	{"log_chunks", []string{"run_id", "seq", "data"}},
	{"agents", []string{"name", "token_hash", "created_at", "revoked", "info", "address", "last_seen", "allowed", "max_concurrency"}},
	{"bundles", []string{"id", "manifest", "created_at"}},
	{"blobs", []string{"hash", "size", "created_at"}},
	{"blob_chunks", []string{"hash", "n", "data"}},
	{"artifacts", []string{"run_id", "name", "size", "sha256", "chunks", "created_at"}},
	// A stopped server's ended runs have had their unrecorded uploads
	// removed; a live run's stay its own on the new database.
	{"run_chunks", []string{"run_id", "hash", "size", "created_at"}},
	{"projects", []string{"name", "docker_allow", "docker_expose_credentials", "updated_at"}},
	{"api_tokens", []string{"name", "hash", "role", "projects", "params", "created_by", "created_at", "last_used_at", "expires_at", "revoked_at"}},
	{"audit", []string{"seq", "at", "actor", "action", "target", "detail", "outcome"}},
	// Sealed with the master key, which the new database's servers share.
	{"oidc_keys", []string{"kid", "private_key", "signing", "created_at", "retired_at"}},
	{"docker_hosts", []string{"name", "url", "pool", "ssh_key", "known_hosts", "tls_ca", "tls_cert", "tls_key", "max_builds", "gc", "draining", "created_at",
		"up", "since", "checked_at", "error", "free_bytes", "disk_bytes", "images_bytes", "build_cache_bytes", "last_gc", "last_gc_at", "projects"}},
}

// RunCount is how many runs the store holds.
func (s *Store) RunCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs`).Scan(&n)
	return n, err
}

// CopyTo copies every run, log, agent, bundle manifest, stored blob,
// project setting and Docker host of s into dst in one transaction: the
// copy is whole or absent. dst must hold no run yet, unless resume is set
// (a move that was stopped and is run again): then rows dst holds already
// are left as they are. It reports how many rows of each table it copied.
func (s *Store) CopyTo(ctx context.Context, dst *Store, resume bool) (map[string]int, error) {
	n, err := dst.RunCount(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 && !resume {
		return nil, fmt.Errorf("the target database holds %d runs already; move into an empty database", n)
	}
	tx, err := dst.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	counts := map[string]int{}
	for _, t := range copied {
		cols := strings.Join(t.columns, ", ")
		rows, err := s.db.QueryContext(ctx, `SELECT `+cols+` FROM `+t.table)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", t.table, err)
		}
		insert := `INSERT INTO ` + t.table + ` (` + cols + `) VALUES (?` + strings.Repeat(", ?", len(t.columns)-1) + `) ON CONFLICT DO NOTHING`
		for rows.Next() {
			values := make([]any, len(t.columns))
			ptrs := make([]any, len(values))
			for i := range values {
				ptrs[i] = &values[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			res, err := tx.ExecContext(ctx, insert, values...)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("writing %s: %w", t.table, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				counts[t.table]++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if dst.db.Dialect == sqldb.Postgres {
		// New runs and audit entries number on from the copied ones.
		for _, table := range []string{"runs", "audit"} {
			if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+table+`', 'seq'), COALESCE((SELECT MAX(seq) FROM `+table+`), 0) + 1, false)`); err != nil {
				return nil, err
			}
		}
	}
	return counts, tx.Commit()
}
