package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// Artifacts: the files a run kept, each the concatenation of chunks that
// are blobs of the server's blob store (content-addressed, shared with
// bundles), so a file stored twice is stored once.

// AddArtifact records an artifact of a run; recording a name again
// replaces it (a runner that resends after a lost answer).
func (s *Store) AddArtifact(ctx context.Context, runID string, a api.Artifact, chunks []string) error {
	raw, _ := json.Marshal(chunks)
	if chunks == nil {
		raw = []byte("[]")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO artifacts (run_id, name, size, sha256, chunks, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, chunks = excluded.chunks`,
		runID, a.Name, a.Size, a.SHA256, string(raw), time.Now().UnixNano())
	return err
}

// ListArtifacts lists a run's artifacts by name.
func (s *Store) ListArtifacts(ctx context.Context, runID string) ([]api.Artifact, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, size, sha256 FROM artifacts WHERE run_id = ? ORDER BY name`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []api.Artifact
	for rows.Next() {
		var a api.Artifact
		if err := rows.Scan(&a.Name, &a.Size, &a.SHA256); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// GetArtifact reads one artifact and its chunks; ErrNotFound if the run
// has none of that name.
func (s *Store) GetArtifact(ctx context.Context, runID, name string) (api.Artifact, []string, error) {
	a := api.Artifact{Name: name}
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT size, sha256, chunks FROM artifacts WHERE run_id = ? AND name = ?`, runID, name).Scan(&a.Size, &a.SHA256, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil, ErrNotFound
	}
	if err != nil {
		return a, nil, err
	}
	var chunks []string
	if err := json.Unmarshal([]byte(raw), &chunks); err != nil {
		return a, nil, err
	}
	return a, chunks, nil
}
