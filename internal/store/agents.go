package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// ErrExists refuses a name that is taken.
var ErrExists = errors.New("exists already")

// LeaseRun hands a queued run to an agent with the hash of its run token,
// and reports whether it did (false when another lease took it first).
func (s *SQLite) LeaseRun(ctx context.Context, id, agent, tokenHash string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, agent = ?, token_hash = ?, attempts = attempts + 1, started_at = ?, reason = ''
		WHERE id = ? AND status = ?`, api.StatusProvisioning, agent, tokenHash, time.Now().UnixNano(), id, api.StatusQueued)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Requeue puts a leased run that never started back in the queue, with
// the reason shown while it waits.
func (s *SQLite) Requeue(ctx context.Context, id, reason string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, agent = '', token_hash = '', started_at = NULL, reason = ?
		WHERE id = ? AND status = ?`, api.StatusQueued, reason, id, api.StatusProvisioning)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RequestCancel records that a user asked to stop a leased run.
func (s *SQLite) RequestCancel(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET cancel_requested = 1 WHERE id = ?`, id)
	return err
}

// DropTokens ends the run tokens of an agent's runs: they can neither read
// nor report any more.
func (s *SQLite) DropTokens(ctx context.Context, agent string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET token_hash = '' WHERE agent = ?`, agent)
	return err
}

// SetReason changes the reason a run in status shows, if it is still in
// it.
func (s *SQLite) SetReason(ctx context.Context, id, status, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET reason = ? WHERE id = ? AND status = ?`, reason, id, status)
	return err
}

// RunOfToken finds the run whose run token hashes to tokenHash, live or
// ended.
func (s *SQLite) RunOfToken(ctx context.Context, tokenHash string) (StoredRun, error) {
	if tokenHash == "" {
		return StoredRun{}, ErrNotFound
	}
	return scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE token_hash = ?`, tokenHash))
}

// Active lists the runs that agents execute (provisioning or running),
// oldest first.
func (s *SQLite) Active(ctx context.Context) ([]StoredRun, error) {
	return s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE status IN (?, ?) ORDER BY seq`, api.StatusProvisioning, api.StatusRunning)
}

// StoredAgent is an agent with its token's hash.
type StoredAgent struct {
	api.Agent
	TokenHash string
}

// CreateAgent registers an agent's token; a revoked agent's name can be
// taken again, a live one's not (ErrExists).
func (s *SQLite) CreateAgent(ctx context.Context, name, tokenHash string, allowed map[string]string, maxConcurrency int) error {
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
func (s *SQLite) AgentOfToken(ctx context.Context, tokenHash string) (StoredAgent, error) {
	return scanAgent(s.db.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE token_hash = ?`, tokenHash))
}

// AgentByName finds an agent by its name.
func (s *SQLite) AgentByName(ctx context.Context, name string) (StoredAgent, error) {
	return scanAgent(s.db.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE name = ?`, name))
}

// ListAgents lists the agents by name.
func (s *SQLite) ListAgents(ctx context.Context) ([]StoredAgent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredAgent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RevokeAgent revokes an agent's token; ErrNotFound if there is no such
// live agent.
func (s *SQLite) RevokeAgent(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE agents SET revoked = 1, info = '{}' WHERE name = ? AND revoked = 0`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// AgentSeen records what an agent said of itself, from where, and when.
func (s *SQLite) AgentSeen(ctx context.Context, a api.Agent) error {
	info, _ := json.Marshal(agentInfo{Labels: a.Labels, Version: a.Version, Concurrency: a.Concurrency})
	var seen int64
	if a.LastSeen != nil {
		seen = a.LastSeen.UnixNano()
	}
	_, err := s.db.ExecContext(ctx, `UPDATE agents SET info = ?, address = ?, last_seen = ? WHERE name = ?`, string(info), a.Address, seen, a.Name)
	return err
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
	if err := row.Scan(&a.Name, &a.TokenHash, &created, &a.Revoked, &info, &a.Address, &seen, &allowed, &a.MaxConcurrency); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, ErrNotFound
		}
		return a, err
	}
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
