package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// LeaseRun hands a queued run to an agent with the hash of its run token,
// and reports whether it did (false when another lease took it first).
func (s *Store) LeaseRun(ctx context.Context, id, agent, tokenHash string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, agent = ?, token_hash = ?, attempts = attempts + 1, started_at = ?, reason = ''
		WHERE id = ? AND status = ?`, api.StatusProvisioning, agent, tokenHash, time.Now().UnixNano(), id, api.StatusQueued)
	if sqldb.IsUniqueViolation(err) {
		return false, nil // another run of the project is active
	}
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Requeue puts a leased run that never started back in the queue, with
// the reason shown while it waits.
func (s *Store) Requeue(ctx context.Context, id, reason string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, agent = '', token_hash = '', started_at = NULL, reason = ?
		WHERE id = ? AND status = ?`, api.StatusQueued, reason, id, api.StatusProvisioning)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RequestCancel records that a user asked to stop a leased run.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET cancel_requested = 1 WHERE id = ?`, id)
	return err
}

// SetReason changes the reason a run in status shows, if it is still in
// it.
func (s *Store) SetReason(ctx context.Context, id, status, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET reason = ? WHERE id = ? AND status = ?`, reason, id, status)
	return err
}

// RunOfToken finds the run whose run token hashes to tokenHash, live or
// ended.
func (s *Store) RunOfToken(ctx context.Context, tokenHash string) (StoredRun, error) {
	if tokenHash == "" {
		return StoredRun{}, ErrNotFound
	}
	return s.scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE token_hash = ?`, tokenHash))
}

// Active lists the runs that agents execute (provisioning or running),
// oldest first.
func (s *Store) Active(ctx context.Context) ([]StoredRun, error) {
	return s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE status IN (?, ?) ORDER BY seq`, api.StatusProvisioning, api.StatusRunning)
}

// CreateAgent registers an agent's token; a revoked agent's name can be
// taken again, a live one's not (ErrExists).
func (s *Store) CreateAgent(ctx context.Context, name, tokenHash string, allowed map[string]string, maxConcurrency int) error {
	labels, _ := json.Marshal(allowed)
	res, err := s.db.ExecContext(ctx, `INSERT INTO agents (name, token_hash, created_at, allowed, max_concurrency) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at, revoked = 0, info = '{}', address = '', last_seen = NULL,
			allowed = excluded.allowed, max_concurrency = excluded.max_concurrency
		WHERE agents.revoked = 1`, name, tokenHash, time.Now().UnixNano(), string(labels), maxConcurrency)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrExists
	}
	return nil
}

// AgentOfToken finds the agent whose token hashes to tokenHash.
func (s *Store) AgentOfToken(ctx context.Context, tokenHash string) (StoredAgent, error) {
	if tokenHash == "" {
		return StoredAgent{}, ErrNotFound
	}
	return scanAgent(s.db.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE token_hash = ?`, tokenHash))
}

// AgentByName finds an agent by its name.
func (s *Store) AgentByName(ctx context.Context, name string) (StoredAgent, error) {
	return scanAgent(s.db.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE name = ?`, name))
}

// ListAgents lists the agents by name.
func (s *Store) ListAgents(ctx context.Context) ([]StoredAgent, error) {
	return queryAll(ctx, s.db, scanAgent, `SELECT `+agentColumns+` FROM agents ORDER BY name`)
}

// RevokeAgent revokes an agent's token and ends its runs' tokens;
// ErrNotFound if no agent with a token has that name. Revoking a revoked
// agent again does it again.
func (s *Store) RevokeAgent(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE agents SET revoked = 1, info = '{}' WHERE name = ? AND token_hash <> ''`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	// With it, the tokens of its runs: they read and report nothing more.
	// Both or neither, so a revocation that failed half way is not a
	// revoked agent whose runners still work; and it can be repeated.
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET token_hash = '' WHERE agent = ?`, name); err != nil {
		return err
	}
	return tx.Commit()
}

// AgentSeen records what an agent said of itself, from where, and when.
func (s *Store) AgentSeen(ctx context.Context, a api.Agent) error {
	info, _ := json.Marshal(agentInfo{Labels: a.Labels, Version: a.Version, Concurrency: a.Concurrency})
	if s.db.Dialect == sqldb.Postgres {
		// Stamped by the database's clock, which every server reads it
		// against (AgentSilences): servers' clocks may disagree.
		_, err := s.db.ExecContext(ctx, `UPDATE agents SET info = ?, address = ?, last_seen = `+dbNow+` WHERE name = ?`, string(info), a.Address, a.Name)
		return err
	}
	var seen int64
	if a.LastSeen != nil {
		seen = a.LastSeen.UnixNano()
	}
	_, err := s.db.ExecContext(ctx, `UPDATE agents SET info = ?, address = ?, last_seen = ? WHERE name = ?`, string(info), a.Address, seen, a.Name)
	return err
}

// dbNow is PostgreSQL's clock in Unix nanoseconds.
const dbNow = `(EXTRACT(EPOCH FROM clock_timestamp()) * 1e9)::BIGINT`

// AgentSilences tells, for every live agent with a recorded contact, how
// long ago that was. On PostgreSQL the database's clock measures it, the
// one that stamped the contact, whichever server asks.
func (s *Store) AgentSilences(ctx context.Context) (map[string]time.Duration, error) {
	now, args := `?`, []any{time.Now().UnixNano()}
	if s.db.Dialect == sqldb.Postgres {
		now, args = dbNow, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, `+now+` - last_seen FROM agents WHERE revoked = 0 AND last_seen IS NOT NULL AND last_seen > 0`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Duration{}
	for rows.Next() {
		var name string
		var silence int64
		if err := rows.Scan(&name, &silence); err != nil {
			return nil, err
		}
		out[name] = time.Duration(silence)
	}
	return out, rows.Err()
}

type agentInfo struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Version     string            `json:"version,omitempty"`
	Concurrency int               `json:"concurrency"`
}

const agentColumns = `name, token_hash, created_at, revoked, info, address, last_seen, allowed, max_concurrency`

func scanAgent(row interface{ Scan(...any) error }) (StoredAgent, error) {
	var a StoredAgent
	var created int64
	var seen sql.NullInt64
	var info, allowed string
	var revoked int
	if err := row.Scan(&a.Name, &a.TokenHash, &created, &revoked, &info, &a.Address, &seen, &allowed, &a.MaxConcurrency); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, ErrNotFound
		}
		return a, err
	}
	a.Revoked = revoked != 0
	var i agentInfo
	_ = json.Unmarshal([]byte(info), &i)
	a.Labels, a.Version, a.Concurrency = i.Labels, i.Version, i.Concurrency
	_ = json.Unmarshal([]byte(allowed), &a.Allowed)
	a.CreatedAt = time.Unix(0, created).UTC()
	if seen.Valid && seen.Int64 > 0 {
		t := time.Unix(0, seen.Int64).UTC()
		a.LastSeen = &t
	}
	return a, nil
}

// LeaseNext hands agent the oldest queued run that match accepts and whose
// project has no active run, with the hash of its run token, unless the
// agent already has limit active runs. It reports false when there is
// nothing for it.
//
// Servers sharing a database may lease at the same moment. On PostgreSQL
// the agent must be registered and not revoked (its row locked, so its
// limit is counted again under the lock); a candidate is locked with FOR
// UPDATE SKIP LOCKED, so a server passes over a run another is handing out
// instead of waiting for it; the update only succeeds on a run still
// queued; and the unique index on active runs per project refuses a second
// active run of a project leased elsewhere in the same instant.
func (s *Store) LeaseNext(ctx context.Context, agent, tokenHash string, limit int, match func(StoredRun) bool) (StoredRun, bool, error) {
	var mine int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs WHERE agent = ? AND status IN (?, ?)`, agent, api.StatusProvisioning, api.StatusRunning).Scan(&mine); err != nil {
		return StoredRun{}, false, err
	}
	if mine >= limit {
		return StoredRun{}, false, nil
	}
	candidates, err := s.leaseCandidates(ctx)
	if err != nil {
		return StoredRun{}, false, err
	}
	busy := map[string]bool{}
	for _, run := range candidates {
		if busy[run.Project] || !match(run) {
			continue
		}
		ok, err := s.leaseOne(ctx, run.ID, agent, tokenHash, limit)
		if err != nil {
			return StoredRun{}, false, err
		}
		if !ok {
			// Taken, cancelled, or its project became busy meanwhile.
			busy[run.Project] = true
			continue
		}
		leased, err := s.GetRun(ctx, run.ID)
		return leased, err == nil, err
	}
	return StoredRun{}, false, nil
}

// leaseCandidates are the queued runs of projects with no active run,
// oldest first, with what routing needs only: every lease looks at them,
// and a full run (its sealed values opened) is read only for the one
// leased.
func (s *Store) leaseCandidates(ctx context.Context) ([]StoredRun, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, project, runs_on, project_file FROM runs
		WHERE status = ? AND project NOT IN (SELECT project FROM runs WHERE status IN (?, ?)) ORDER BY seq`,
		api.StatusQueued, api.StatusProvisioning, api.StatusRunning)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredRun
	for rows.Next() {
		var r StoredRun
		var runsOn sql.NullString
		if err := rows.Scan(&r.ID, &r.Project, &runsOn, &r.ProjectFile); err != nil {
			return nil, err
		}
		if runsOn.Valid {
			r.RunsOn = map[string]string{}
			_ = json.Unmarshal([]byte(runsOn.String), &r.RunsOn)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) leaseOne(ctx context.Context, id, agent, tokenHash string, limit int) (bool, error) {
	if s.db.Dialect != sqldb.Postgres {
		// One server on its own database: its lease lock orders leases.
		return s.LeaseRun(ctx, id, agent, tokenHash)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// The agent's row, locked: leases of one agent on several servers take
	// turns, so its limit holds across them, and a revocation (an update
	// of this row) waits for the lease, then ends the run it made. A
	// revoked or unknown agent gets nothing.
	var n int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM agents WHERE name = ? AND revoked = 0 FOR UPDATE`, agent).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs WHERE agent = ? AND status IN (?, ?)`, agent, api.StatusProvisioning, api.StatusRunning).Scan(&n); err != nil {
		return false, err
	}
	if n >= limit {
		return false, nil
	}
	var got string
	err = tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE id = ? AND status = ? FOR UPDATE SKIP LOCKED`, id, api.StatusQueued).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // another server holds it, or it is no longer queued
	}
	if err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE runs SET status = ?, agent = ?, token_hash = ?, attempts = attempts + 1, started_at = ?, reason = '' WHERE id = ?`,
		api.StatusProvisioning, agent, tokenHash, time.Now().UnixNano(), id)
	if sqldb.IsUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// EnsureAgent registers an agent that has no token, such as a server's
// own, so that its contact is recorded for the other servers of the
// database. No token hashes to its empty token hash.
func (s *Store) EnsureAgent(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO agents (name, token_hash, created_at) VALUES (?, '', ?) ON CONFLICT (name) DO UPDATE SET revoked = 0, token_hash = ''`, name, time.Now().UnixNano())
	return err
}
