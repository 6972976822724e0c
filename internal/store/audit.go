package store

import (
	"context"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// The audit log: the store only appends to it, and retention prunes its
// oldest entries; nothing else changes or deletes one.

// AppendAudit adds an entry, numbered and stamped by the store if the
// entry is not.
func (s *Store) AppendAudit(ctx context.Context, e api.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit (at, actor, action, target, detail, outcome) VALUES (?, ?, ?, ?, ?, ?)`,
		e.At.UnixNano(), e.Actor, e.Action, e.Target, e.Detail, e.Outcome)
	return err
}

// ListAudit lists the entries from since (zero: the oldest kept), oldest
// first, at most limit of them after the entry numbered after (0: from
// the first).
func (s *Store) ListAudit(ctx context.Context, since time.Time, after int64, limit int) ([]api.AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, actor, action, target, detail, outcome FROM audit WHERE at >= ? AND seq > ? ORDER BY seq LIMIT ?`,
		since.UnixNano(), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []api.AuditEntry{}
	for rows.Next() {
		var e api.AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Outcome); err != nil {
			return nil, err
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneAudit deletes the entries older than cutoff and returns how many.
func (s *Store) PruneAudit(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM audit WHERE at < ?`, cutoff.UnixNano())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
