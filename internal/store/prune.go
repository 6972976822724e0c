package store

import (
	"context"
	"time"
)

// Retention: old runs go with their logs, then what no kept run needs.

// PruneRuns deletes the finished runs beyond the newest keep runs (keep
// 0: no bound) or finished before cutoff (zero: no bound), with their
// logs, and returns how many it deleted. Queued and active runs stay.
func (s *Store) PruneRuns(ctx context.Context, keep int, cutoff time.Time) (int, error) {
	unfinished := unfinished()
	var doomed []string
	add := func(q string, args ...any) error {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			doomed = append(doomed, id)
		}
		return rows.Err()
	}
	if keep > 0 {
		// Counted among all runs: the newest keep are kept, whatever their state.
		if err := add(`SELECT id FROM runs WHERE status NOT IN (?, ?, ?) AND seq NOT IN (SELECT seq FROM runs ORDER BY seq DESC LIMIT ?)`, append(unfinished, keep)...); err != nil {
			return 0, err
		}
	}
	if !cutoff.IsZero() {
		if err := add(`SELECT id FROM runs WHERE status NOT IN (?, ?, ?) AND finished_at IS NOT NULL AND finished_at < ?`, append(unfinished, cutoff.UnixNano())...); err != nil {
			return 0, err
		}
	}
	deleted := 0
	seen := map[string]bool{}
	for _, id := range doomed {
		if seen[id] {
			continue
		}
		seen[id] = true
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return deleted, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM log_chunks WHERE run_id = ?`, id); err != nil {
			tx.Rollback()
			return deleted, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM artifacts WHERE run_id = ?`, id); err != nil {
			tx.Rollback()
			return deleted, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id); err != nil {
			tx.Rollback()
			return deleted, err
		}
		if err := tx.Commit(); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

// PruneBundles deletes the manifests no run names that were stored
// before cutoff (a newer one may be about to get its run), and returns
// the content hashes the remaining manifests and the kept runs' artifacts
// name: the blobs to keep.
func (s *Store) PruneBundles(ctx context.Context, cutoff time.Time) (keep map[string]bool, err error) {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM bundles WHERE created_at < ? AND id NOT IN (SELECT bundle FROM runs)`, cutoff.UnixNano()); err != nil {
		return nil, err
	}
	keep, err = s.bundledBlobs(ctx)
	if err != nil {
		return nil, err
	}
	// PruneRuns deleted the artifacts of the runs it deleted: what is left
	// belongs to kept runs.
	named, err := s.artifactChunks(ctx, `SELECT chunks FROM artifacts`)
	if err != nil {
		return nil, err
	}
	for h := range named {
		keep[h] = true
	}
	// A live run's uploads are not recorded yet; an ended run's that are
	// not are removed when it ends (see EndedChunkRuns).
	live, err := s.stringSet(ctx, `SELECT DISTINCT hash FROM run_chunks`)
	if err != nil {
		return nil, err
	}
	for h := range live {
		keep[h] = true
	}
	return keep, nil
}

// PruneBlobs deletes the stored blobs not in keep that were stored before
// cutoff (a newer one may belong to an upload in progress), and returns
// how many.
func (s *Store) PruneBlobs(ctx context.Context, keep map[string]bool, cutoff time.Time) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hash FROM blobs WHERE created_at < ?`, cutoff.UnixNano())
	if err != nil {
		return 0, err
	}
	var doomed []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return 0, err
		}
		if !keep[h] {
			doomed = append(doomed, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	deleted := 0
	for _, h := range doomed {
		ok, err := s.DeleteBlob(ctx, h, cutoff)
		if err != nil {
			return deleted, err
		}
		if ok {
			deleted++
		}
	}
	return deleted, nil
}
