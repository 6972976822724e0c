package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// Run chunks: which run uploaded which artifact chunk (a blob of the blob
// store), at what size. They bound what a run token may upload, make an
// artifact only of chunks its own run uploaded, and tell, when the run
// ends, which uploads it never recorded in an artifact: those go.

// ReserveRunChunk records that run runID uploads chunk hash of size bytes,
// unless that would take the run's chunks beyond maxBytes in all or
// maxChunks in number (ErrOverBudget). It reports whether it recorded
// the chunk now: false for one the run had uploaded already, which is
// counted once. Reservations of one run are made one at a time (a lock
// on the run's row), so concurrent uploads cannot pass the bounds
// together, on any server of a shared database.
func (s *Store) ReserveRunChunk(ctx context.Context, runID, hash string, size, maxBytes int64, maxChunks int) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE runs SET events_acked = events_acked WHERE id = ?`, runID)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, ErrNotFound
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM run_chunks WHERE run_id = ? AND hash = ?`, runID, hash).Scan(&have); err != nil {
		return false, err
	}
	if have > 0 {
		return false, nil
	}
	var count int
	var total int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM run_chunks WHERE run_id = ?`, runID).Scan(&count, &total); err != nil {
		return false, err
	}
	if count+1 > maxChunks || total+size > maxBytes {
		return false, ErrOverBudget
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO run_chunks (run_id, hash, size, created_at) VALUES (?, ?, ?, ?)`, runID, hash, size, time.Now().UnixNano()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// ReleaseRunChunk forgets a reservation whose upload failed.
func (s *Store) ReleaseRunChunk(ctx context.Context, runID, hash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM run_chunks WHERE run_id = ? AND hash = ?`, runID, hash)
	return err
}

// RunChunks returns the chunks run runID uploaded, with the sizes they
// were reserved at.
func (s *Store) RunChunks(ctx context.Context, runID string) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hash, size FROM run_chunks WHERE run_id = ?`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var h string
		var size int64
		if err := rows.Scan(&h, &size); err != nil {
			return nil, err
		}
		out[h] = size
	}
	return out, rows.Err()
}

// EndedChunkRuns lists the runs that have ended (or are gone) whose
// uploads are still recorded: their unrecorded chunks are to go.
func (s *Store) EndedChunkRuns(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT c.run_id FROM run_chunks c LEFT JOIN runs r ON r.id = c.run_id
		WHERE r.id IS NULL OR r.status NOT IN (?, ?, ?)`, unfinished()...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// UnrecordedChunks lists the chunks run runID uploaded that none of its
// artifacts names.
func (s *Store) UnrecordedChunks(ctx context.Context, runID string) ([]string, error) {
	uploaded, err := s.RunChunks(ctx, runID)
	if err != nil || len(uploaded) == 0 {
		return nil, err
	}
	named, err := s.artifactChunks(ctx, `SELECT chunks FROM artifacts WHERE run_id = ?`, runID)
	if err != nil {
		return nil, err
	}
	var out []string
	for h := range uploaded {
		if !named[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// ChunksInUse returns those of hashes that something but run runID's
// uploads still needs: a bundle, any run's artifact, another run's
// uploads.
func (s *Store) ChunksInUse(ctx context.Context, runID string, hashes []string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, h := range hashes {
		want[h] = true
	}
	inUse := map[string]bool{}
	mark := func(h string) {
		if want[h] {
			inUse[h] = true
		}
	}
	named, err := s.artifactChunks(ctx, `SELECT chunks FROM artifacts`)
	if err != nil {
		return nil, err
	}
	for h := range named {
		mark(h)
	}
	bundled, err := s.bundledBlobs(ctx)
	if err != nil {
		return nil, err
	}
	for h := range bundled {
		mark(h)
	}
	others, err := s.stringSet(ctx, `SELECT DISTINCT hash FROM run_chunks WHERE run_id <> ?`, runID)
	if err != nil {
		return nil, err
	}
	for h := range others {
		mark(h)
	}
	return inUse, nil
}

// stringSet returns the values of the one column a query selects.
func (s *Store) stringSet(ctx context.Context, q string, args ...any) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out[v] = true
	}
	return out, rows.Err()
}

// unfinished are the statuses of runs that have not ended, as arguments.
func unfinished() []any {
	return []any{api.StatusQueued, api.StatusProvisioning, api.StatusRunning}
}

// ForgetRunChunks drops the record of a run's uploads.
func (s *Store) ForgetRunChunks(ctx context.Context, runID string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM run_chunks WHERE run_id = ?`, runID)
	return err
}

// artifactChunks returns the chunks the artifacts a query selects name
// (its one column: their JSON lists of hashes).
func (s *Store) artifactChunks(ctx context.Context, q string, args ...any) (map[string]bool, error) {
	lists, err := s.stringSet(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for raw := range lists {
		var hashes []string
		if err := json.Unmarshal([]byte(raw), &hashes); err != nil {
			continue
		}
		for _, h := range hashes {
			out[h] = true
		}
	}
	return out, nil
}

// bundledBlobs returns the content hashes the stored bundle manifests
// name.
func (s *Store) bundledBlobs(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT manifest FROM bundles`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var m api.Manifest
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			continue
		}
		for _, f := range m.Files {
			if f.SHA256 != "" {
				out[f.SHA256] = true
			}
		}
	}
	return out, rows.Err()
}
