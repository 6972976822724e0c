package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"
)

// Blobs in the database, for servers that share it: content-addressed
// (the caller has verified that the content hashes to its name), stored
// once whoever uploads it again, in chunks so no row is larger than
// blobChunk and a blob streams out without being held whole.

const blobChunk = 1 << 20

// HasBlob tells whether the blob is stored. Asking means the blob is about
// to be named again (a deploy that need not upload it, a bundle checked):
// an old blob's stamp is renewed, so retention, which removes only blobs
// older than its grace of hours, leaves it alone.
func (s *Store) HasBlob(ctx context.Context, hash string) (bool, error) {
	now := time.Now()
	res, err := s.db.ExecContext(ctx, `UPDATE blobs SET created_at = ? WHERE hash = ? AND created_at < ?`, now.UnixNano(), hash, now.Add(-BlobTouchAge).UnixNano())
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return true, nil
	}
	var n int
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs WHERE hash = ?`, hash).Scan(&n)
	return n > 0, err
}

// BlobSize returns a stored blob's size.
func (s *Store) BlobSize(ctx context.Context, hash string) (int64, error) {
	var size int64
	err := s.db.QueryRowContext(ctx, `SELECT size FROM blobs WHERE hash = ?`, hash).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return size, err
}

// PutBlob stores content under hash, unless a blob of that hash is stored
// already. The blob appears whole or not at all.
func (s *Store) PutBlob(ctx context.Context, hash string, content io.Reader) error {
	if ok, err := s.HasBlob(ctx, hash); err != nil || ok {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The row first: a second server storing the same blob waits on it,
	// then does nothing.
	res, err := tx.ExecContext(ctx, `INSERT INTO blobs (hash, size, created_at) VALUES (?, 0, ?) ON CONFLICT (hash) DO NOTHING`, hash, time.Now().UnixNano())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	buf := make([]byte, blobChunk)
	var size int64
	for n := 0; ; n++ {
		k, err := io.ReadFull(content, buf)
		if k > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO blob_chunks (hash, n, data) VALUES (?, ?, ?)`, hash, n, buf[:k]); err != nil {
				return err
			}
			size += int64(k)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE blobs SET size = ? WHERE hash = ?`, size, hash); err != nil {
		return err
	}
	return tx.Commit()
}

// OpenBlob streams a stored blob, a chunk at a time.
func (s *Store) OpenBlob(ctx context.Context, hash string) (io.ReadCloser, error) {
	size, err := s.BlobSize(ctx, hash)
	if err != nil {
		return nil, err
	}
	return &blobReader{ctx: ctx, s: s, hash: hash, left: size}, nil
}

type blobReader struct {
	ctx  context.Context
	s    *Store
	hash string
	n    int   // the next chunk
	left int64 // bytes of the blob not yet read from the database
	buf  bytes.Reader
}

// Read reads the blob a chunk at a time. Chunks that end before the blob's
// size (deleted meanwhile) are an error, never a shorter blob.
func (r *blobReader) Read(p []byte) (int, error) {
	for r.buf.Len() == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		var data []byte
		err := r.s.db.QueryRowContext(r.ctx, `SELECT data FROM blob_chunks WHERE hash = ? AND n = ?`, r.hash, r.n).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("blob %s: chunk %d is missing: %w", r.hash, r.n, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, err
		}
		if int64(len(data)) > r.left {
			return 0, fmt.Errorf("blob %s is longer than its size", r.hash)
		}
		r.n++
		r.left -= int64(len(data))
		r.buf.Reset(data)
	}
	return r.buf.Read(p)
}

func (r *blobReader) Close() error { return nil }

// DeleteBlob removes a stored blob if it is still stamped before before
// (zero: whatever its stamp), and reports whether it did: one looked at
// since retention chose it is in use again.
func (s *Store) DeleteBlob(ctx context.Context, hash string, before time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	q, args := `DELETE FROM blobs WHERE hash = ?`, []any{hash}
	if !before.IsZero() {
		q, args = q+` AND created_at < ?`, append(args, before.UnixNano())
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM blob_chunks WHERE hash = ?`, hash); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
