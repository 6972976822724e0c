package store

import "context"

// NamedBlobs returns the hashes of every blob the database names: the
// files of its bundles and the chunks of its runs' artifacts. It changes
// nothing (HasBlob renews stamps; this does not), so it may check a copy
// that is about to be restored: each blob named must be there.
func (s *Store) NamedBlobs(ctx context.Context) (map[string]bool, error) {
	named, err := s.bundledBlobs(ctx)
	if err != nil {
		return nil, err
	}
	chunks, err := s.artifactChunks(ctx, `SELECT chunks FROM artifacts`)
	if err != nil {
		return nil, err
	}
	for h := range chunks {
		named[h] = true
	}
	return named, nil
}
