// Package store keeps runs, their log chunks and bundle manifests in
// SQLite (WAL). Queries stay plain SQL so that a PostgreSQL implementation
// can follow the same shape.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the embedded database

	"github.com/jetway-dev/jetway/internal/api"
)

// ErrNotFound is returned for a run or bundle that does not exist.
var ErrNotFound = errors.New("not found")

// SQLite is the embedded store.
type SQLite struct {
	db *sql.DB
}

// Open opens (creating) DATA/jetway.db.
func Open(ctx context.Context, dataDir string) (*SQLite, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "jetway.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing the run database: %w", err)
	}
	if err := addColumns(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrading the run database: %w", err)
	}
	// Every request of a runner looks its run up by its token's hash.
	if _, err := db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS runs_token ON runs(token_hash)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrading the run database: %w", err)
	}
	return &SQLite{db: db}, nil
}

// added lists the columns that came after a table's first release. The
// schema's CREATE TABLE IF NOT EXISTS leaves an existing table as it was,
// so each is added to a database that lacks it; the list only grows.
var added = []struct{ table, column, decl string }{
	// The sequence number of the last of a run's events stored.
	{"runs", "events_acked", "INTEGER NOT NULL DEFAULT 0"},
	// The agent that leased the run, the hash of its run token, and how
	// often it was leased.
	{"runs", "agent", "TEXT NOT NULL DEFAULT ''"},
	{"runs", "token_hash", "TEXT NOT NULL DEFAULT ''"},
	{"runs", "attempts", "INTEGER NOT NULL DEFAULT 0"},
	// A stop asked for while an agent executes the run.
	{"runs", "cancel_requested", "INTEGER NOT NULL DEFAULT 0"},
	// What an agent's token lets it claim.
	{"agents", "allowed", "TEXT NOT NULL DEFAULT '{}'"},
	{"agents", "max_concurrency", "INTEGER NOT NULL DEFAULT 0"},
}

func addColumns(ctx context.Context, db *sql.DB) error {
	for _, c := range added {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE `+c.table+` ADD COLUMN `+c.column+` `+c.decl); err != nil {
			return fmt.Errorf("adding %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	project      TEXT NOT NULL,
	status       TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	env          TEXT NOT NULL DEFAULT '',
	started_by   TEXT NOT NULL DEFAULT '',
	git          TEXT NOT NULL DEFAULT '{}',
	bundle       TEXT NOT NULL,
	project_file TEXT NOT NULL,
	pass         TEXT NOT NULL DEFAULT '{}',
	created_at   INTEGER NOT NULL,
	started_at   INTEGER,
	finished_at  INTEGER,
	summary      TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, seq);
CREATE INDEX IF NOT EXISTS runs_project ON runs(project, seq);
CREATE TABLE IF NOT EXISTS log_chunks (
	run_id TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	data   TEXT NOT NULL,
	PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS agents (
	name       TEXT PRIMARY KEY,
	token_hash TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0,
	info       TEXT NOT NULL DEFAULT '{}',
	address    TEXT NOT NULL DEFAULT '',
	last_seen  INTEGER
);
CREATE TABLE IF NOT EXISTS bundles (
	id         TEXT PRIMARY KEY,
	manifest   TEXT NOT NULL,
	created_at INTEGER NOT NULL
);`

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// StoredRun is a run with what only the server and its runner see.
type StoredRun struct {
	api.Run
	ProjectFile string
	Pass        map[string]string
	// Attempts counts the leases the run had.
	Attempts int
	// CancelRequested: a user asked to stop the run; its agent is told at
	// its next heartbeat.
	CancelRequested bool
}

// CreateRun inserts a queued run.
func (s *SQLite) CreateRun(ctx context.Context, r StoredRun) error {
	git, _ := json.Marshal(r.Git)
	pass, _ := json.Marshal(r.Pass)
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, project, status, env, started_by, git, bundle, project_file, pass, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Project, r.Status, r.Env, r.StartedBy, string(git), r.Bundle, r.ProjectFile, string(pass), r.CreatedAt.UnixNano())
	return err
}

const runColumns = `id, project, status, reason, env, started_by, git, bundle, project_file, pass, created_at, started_at, finished_at, summary, agent, attempts, cancel_requested`

func scanRun(row interface{ Scan(...any) error }) (StoredRun, error) {
	var r StoredRun
	var git, pass string
	var created int64
	var started, finished sql.NullInt64
	var summary sql.NullString
	if err := row.Scan(&r.ID, &r.Project, &r.Status, &r.Reason, &r.Env, &r.StartedBy, &git, &r.Bundle, &r.ProjectFile, &pass, &created, &started, &finished, &summary, &r.Agent, &r.Attempts, &r.CancelRequested); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, ErrNotFound
		}
		return r, err
	}
	_ = json.Unmarshal([]byte(git), &r.Git)
	_ = json.Unmarshal([]byte(pass), &r.Pass)
	r.CreatedAt = time.Unix(0, created).UTC()
	if started.Valid {
		t := time.Unix(0, started.Int64).UTC()
		r.StartedAt = &t
	}
	if finished.Valid {
		t := time.Unix(0, finished.Int64).UTC()
		r.FinishedAt = &t
	}
	if summary.Valid {
		r.Summary = &api.Summary{}
		_ = json.Unmarshal([]byte(summary.String), r.Summary)
	}
	return r, nil
}

// GetRun reads one run.
func (s *SQLite) GetRun(ctx context.Context, id string) (StoredRun, error) {
	return scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
}

// ListRuns lists runs newest first, optionally of one project and/or in
// some states.
func (s *SQLite) ListRuns(ctx context.Context, project string, statuses []string, limit int) ([]StoredRun, error) {
	q := `SELECT ` + runColumns + ` FROM runs WHERE 1=1`
	var args []any
	if project != "" {
		q += ` AND project = ?`
		args = append(args, project)
	}
	if len(statuses) > 0 {
		q += ` AND status IN (?` + repeat(",?", len(statuses)-1) + `)`
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	q += ` ORDER BY seq DESC`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	return s.queryRuns(ctx, q, args...)
}

// Queued lists queued runs oldest first.
func (s *SQLite) Queued(ctx context.Context) ([]StoredRun, error) {
	return s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE status = ? ORDER BY seq`, api.StatusQueued)
}

func (s *SQLite) queryRuns(ctx context.Context, q string, args ...any) ([]StoredRun, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredRun
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// Transition moves a run from one of the states in from to status, and
// reports whether it did (false when the run had moved on already).
// Entering provisioning stamps started_at; a final state stamps finished_at.
func (s *SQLite) Transition(ctx context.Context, id string, from []string, status, reason string, summary *api.Summary) (bool, error) {
	now := time.Now().UnixNano()
	set := `status = ?, reason = CASE WHEN ? = '' THEN reason ELSE ? END`
	args := []any{status, reason, reason}
	if status == api.StatusProvisioning {
		set += `, started_at = ?`
		args = append(args, now)
	}
	if api.Finished(status) {
		set += `, finished_at = ?`
		args = append(args, now)
	}
	if summary != nil {
		b, _ := json.Marshal(summary)
		set += `, summary = ?`
		args = append(args, string(b))
	}
	q := `UPDATE runs SET ` + set + ` WHERE id = ? AND status IN (?` + repeat(",?", len(from)-1) + `)`
	args = append(args, id)
	for _, f := range from {
		args = append(args, f)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// FailUnfinished marks runs that a previous server process left in
// provisioning or running on one of agents (the server's own) as failed
// with reason. Runs on other agents go on.
func (s *SQLite) FailUnfinished(ctx context.Context, reason string, agents ...string) (int64, error) {
	args := []any{api.StatusFailed, reason, time.Now().UnixNano(), api.StatusProvisioning, api.StatusRunning}
	q := `UPDATE runs SET status = ?, reason = ?, finished_at = ? WHERE status IN (?, ?)`
	if len(agents) > 0 {
		q += ` AND agent IN (?` + repeat(",?", len(agents)-1) + `)`
		for _, a := range agents {
			args = append(args, a)
		}
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AppendLog stores the next chunk of a run's log and returns its number.
func (s *SQLite) AppendLog(ctx context.Context, runID, data string) (int64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO log_chunks (run_id, seq, data) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM log_chunks WHERE run_id = ?), ?) RETURNING seq`,
		runID, runID, data).Scan(&seq)
	return seq, err
}

// EventsAcked returns the sequence number of the last of a run's events
// stored (0 before the first).
func (s *SQLite) EventsAcked(ctx context.Context, runID string) (int64, error) {
	var acked int64
	err := s.db.QueryRowContext(ctx, `SELECT events_acked FROM runs WHERE id = ?`, runID).Scan(&acked)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return acked, err
}

// AppendEvents stores text, the log of a run's events after..upTo, as the
// next chunk of its log and upTo as its last stored event, both or neither.
// It does so only if the run's last stored event is still after, and
// reports whether it did: false means another request stored events in
// between, so the caller reads EventsAcked again and stores what is left.
// That check is what keeps a resent batch from being stored twice.
func (s *SQLite) AppendEvents(ctx context.Context, runID string, after, upTo int64, text string) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE runs SET events_acked = ? WHERE id = ? AND events_acked = ?`, upTo, runID, after)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	if text != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_chunks (run_id, seq, data) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM log_chunks WHERE run_id = ?), ?)`,
			runID, runID, text); err != nil {
			return false, err
		}
	}
	return true, tx.Commit()
}

// Chunk is a stored piece of a run's log.
type Chunk struct {
	Seq  int64
	Data string
}

// ReadLog returns the chunks after seq, in order.
func (s *SQLite) ReadLog(ctx context.Context, runID string, after int64) ([]Chunk, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, data FROM log_chunks WHERE run_id = ? AND seq > ? ORDER BY seq`, runID, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Chunk
	for rows.Next() {
		var c Chunk
		if err := rows.Scan(&c.Seq, &c.Data); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PutBundle stores a manifest under its id.
func (s *SQLite) PutBundle(ctx context.Context, id string, m api.Manifest) error {
	b, _ := json.Marshal(m)
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO bundles (id, manifest, created_at) VALUES (?, ?, ?)`, id, string(b), time.Now().UnixNano())
	return err
}

// GetBundle reads a manifest.
func (s *SQLite) GetBundle(ctx context.Context, id string) (api.Manifest, error) {
	var m api.Manifest
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT manifest FROM bundles WHERE id = ?`, id).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal([]byte(raw), &m)
}
