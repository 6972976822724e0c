// Package store keeps runs, their logs, agents, bundle manifests, blobs,
// dashboard sessions and settings in SQLite (WAL, the embedded default) or
// PostgreSQL (several servers on one database). One implementation serves
// both: the SQL is written once (see package sqldb), and the conformance
// tests run every test on each engine.
package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Store is the run store on either engine.
type Store struct {
	db     *sqldb.DB
	sealer Sealer
}

// Sealer seals values at rest with the server's master key (the
// parameter store's).
type Sealer interface {
	SealValue(aad string, plaintext []byte) []byte
	OpenValue(aad string, sealed []byte) ([]byte, error)
}

// SealWith makes the store seal the values a run carries from its
// deployer (env.pass, -e) before they are stored: a copy of the database
// then reveals none. Call it before the store is used.
func (s *Store) SealWith(sealer Sealer) { s.sealer = sealer }

// sealedPrefix marks a sealed column value; one without it is from before
// sealing, or of a store without a sealer, and is read as it is.
const sealedPrefix = "sealed:"

func (s *Store) seal(runID, column string, plaintext []byte) string {
	if s.sealer == nil {
		return string(plaintext)
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(s.sealer.SealValue("run-value:"+runID+":"+column, plaintext))
}

// unseal reads a sealed column value; one that does not open (another
// master key) reads as nothing.
func (s *Store) unseal(runID, column, stored string) []byte {
	rest, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return []byte(stored)
	}
	if s.sealer == nil {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil
	}
	plain, err := s.sealer.OpenValue("run-value:"+runID+":"+column, raw)
	if err != nil {
		return nil
	}
	return plain
}

// OpenDatabase opens the store a server is given: the embedded one in
// dataDir when database is "", else the PostgreSQL database that the
// postgres:// URL database names, which several servers may share. It is
// the one place that tells the engines apart by what an operator gave.
func OpenDatabase(ctx context.Context, dataDir, database string) (*Store, error) {
	switch {
	case database == "":
		return Open(ctx, dataDir)
	case sqldb.IsPostgresURL(database):
		db, err := sqldb.OpenPostgres(ctx, database)
		if err != nil {
			return nil, err
		}
		s, err := New(ctx, db)
		if err != nil {
			db.Close()
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("--database %s: give a PostgreSQL URL (postgres://user:password@host:5432/jetway), or nothing for the embedded database in the data dir", sqldb.Redact(database))
	}
}

// Open opens (creating) the embedded store DATA/jetway.db.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(dataDir, "jetway.db"))
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// New brings db's schema up to date and returns the store over it. The
// store owns db from then on: Close closes it.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := db.Migrate(ctx, "runs", migrations); err != nil {
		return nil, fmt.Errorf("preparing the run database: %w", err)
	}
	return &Store{db: db}, nil
}

// DB is the database under the store, for the stores that share it.
func (s *Store) DB() *sqldb.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// CreateRun inserts a queued run.
func (s *Store) CreateRun(ctx context.Context, r StoredRun) error {
	git, _ := json.Marshal(r.Git)
	pass, _ := json.Marshal(r.Pass)
	var labels sql.NullString // NULL: the project file says
	if r.RunsOn != nil {
		b, _ := json.Marshal(r.RunsOn)
		labels = sql.NullString{String: string(b), Valid: true}
	}
	vars, _ := json.Marshal(r.RunVars)
	if r.RunVars == nil {
		vars = []byte("{}")
	}
	var grants sql.NullString // NULL: any reference
	if r.Grants != nil {
		b, _ := json.Marshal(r.Grants)
		grants = sql.NullString{String: string(b), Valid: true}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, project, status, env, started_by, git, bundle, project_file, pass, created_at, runs_on, rerun_of, vars, token_name, grants) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Project, r.Status, r.Env, r.StartedBy, string(git), r.Bundle, r.ProjectFile, s.seal(r.ID, "pass", pass), r.CreatedAt.UnixNano(), labels, r.RerunOf, s.seal(r.ID, "vars", vars), r.Token, grants)
	return err
}

const runColumns = `id, project, status, reason, env, started_by, git, bundle, project_file, pass, created_at, started_at, finished_at, summary, agent, attempts, cancel_requested, runs_on, rerun_of, vars, docker, docker_host, docker_host_name, token_name, grants`

func (s *Store) scanRun(row interface{ Scan(...any) error }) (StoredRun, error) {
	var r StoredRun
	var git, pass, vars string
	var created int64
	var started, finished sql.NullInt64
	var summary, runsOn, docker, dockerHost, grants sql.NullString
	var cancel int
	if err := row.Scan(&r.ID, &r.Project, &r.Status, &r.Reason, &r.Env, &r.StartedBy, &git, &r.Bundle, &r.ProjectFile, &pass, &created, &started, &finished, &summary, &r.Agent, &r.Attempts, &cancel, &runsOn, &r.RerunOf, &vars, &docker,
		&dockerHost, &r.BuiltOn, &r.Token, &grants); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, ErrNotFound
		}
		return r, err
	}
	_ = json.Unmarshal([]byte(git), &r.Git)
	_ = json.Unmarshal(s.unseal(r.ID, "pass", pass), &r.Pass)
	_ = json.Unmarshal(s.unseal(r.ID, "vars", vars), &r.RunVars)
	if len(r.RunVars) == 0 {
		r.RunVars = nil
	}
	// Every way out of the store shows them as they may be shown.
	r.Vars = config.ShownVars(r.RunVars)
	r.CancelRequested = cancel != 0
	if runsOn.Valid {
		r.RunsOn = map[string]string{}
		_ = json.Unmarshal([]byte(runsOn.String), &r.RunsOn)
	}
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
	if docker.Valid {
		r.Docker = &api.DockerPolicy{}
		_ = json.Unmarshal([]byte(docker.String), r.Docker)
	}
	if dockerHost.Valid {
		r.DockerHost = &api.AssignedHost{}
		_ = json.Unmarshal([]byte(dockerHost.String), r.DockerHost)
	}
	if grants.Valid {
		// One that does not parse grants nothing.
		r.Grants = []string{}
		_ = json.Unmarshal([]byte(grants.String), &r.Grants)
	}
	return r, nil
}

// GetRun reads one run.
func (s *Store) GetRun(ctx context.Context, id string) (StoredRun, error) {
	return s.scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
}

// ListRuns lists runs newest first, optionally of one project and/or in
// some states.
func (s *Store) ListRuns(ctx context.Context, project string, statuses []string, limit int) ([]StoredRun, error) {
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
func (s *Store) Queued(ctx context.Context) ([]StoredRun, error) {
	return s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE status = ? ORDER BY seq`, api.StatusQueued)
}

func (s *Store) queryRuns(ctx context.Context, q string, args ...any) ([]StoredRun, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredRun
	for rows.Next() {
		r, err := s.scanRun(rows)
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
func (s *Store) Transition(ctx context.Context, id string, from []string, status, reason string, summary *api.Summary) (bool, error) {
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
func (s *Store) FailUnfinished(ctx context.Context, reason string, agents ...string) (int64, error) {
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
func (s *Store) AppendLog(ctx context.Context, runID, data string) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	seq, err := appendChunk(ctx, tx, runID, data)
	if err != nil {
		return 0, err
	}
	return seq, tx.Commit()
}

// appendChunk numbers a chunk from its run's counter, whose row lock
// makes concurrent appends to one run take turns.
func appendChunk(ctx context.Context, tx *sqldb.Tx, runID, data string) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `UPDATE runs SET log_seq = log_seq + 1 WHERE id = ? RETURNING log_seq`, runID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO log_chunks (run_id, seq, data) VALUES (?, ?, ?)`, runID, seq, data)
	return seq, err
}

// EventsAcked returns the sequence number of the last of a run's events
// stored (0 before the first).
func (s *Store) EventsAcked(ctx context.Context, runID string) (int64, error) {
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
func (s *Store) AppendEvents(ctx context.Context, runID string, after, upTo int64, text string) (bool, error) {
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
		if _, err := appendChunk(ctx, tx, runID, text); err != nil {
			return false, err
		}
	}
	return true, tx.Commit()
}

// ReadLog returns the chunks after seq, in order.
func (s *Store) ReadLog(ctx context.Context, runID string, after int64) ([]Chunk, error) {
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

// PutBundle stores a manifest under its id; storing it again renews its
// stamp, so retention leaves a bundle a new run is about to name.
func (s *Store) PutBundle(ctx context.Context, id string, m api.Manifest) error {
	b, _ := json.Marshal(m)
	_, err := s.db.ExecContext(ctx, `INSERT INTO bundles (id, manifest, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at`, id, string(b), time.Now().UnixNano())
	return err
}

// GetBundle reads a manifest.
func (s *Store) GetBundle(ctx context.Context, id string) (api.Manifest, error) {
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
