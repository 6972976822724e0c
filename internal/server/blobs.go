package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/record"
)

// blobs are the contents of uploaded files: in the data dir on one
// machine; in the database when servers share one, so that a bundle
// uploaded to one server is sent by any.
type blobs interface {
	// Has tells whether the blob is stored; an error is the store
	// failing, never "missing".
	Has(ctx context.Context, hash string) (bool, error)
	// Put verifies and stores zstd-compressed content (see bundle.Blobs.Put).
	Put(ctx context.Context, hash string, size int64, compressed io.Reader) (int64, error)
	Size(ctx context.Context, hash string) (int64, error)
	WriteTar(ctx context.Context, w io.Writer, m api.Manifest) error
	// Open reads a stored blob's content (artifacts' chunks).
	Open(ctx context.Context, hash string) (io.ReadCloser, error)
	// Prune removes the blobs not in keep stored before cutoff.
	Prune(ctx context.Context, keep map[string]bool, cutoff time.Time) (int, error)
	// Delete removes a blob; one that is not stored is no error.
	Delete(ctx context.Context, hash string) error
}

func newBlobs(store Store, dir string) blobs {
	if store.Shared() {
		return dbBlobs{store: store, cache: bundle.Blobs{Dir: dir}}
	}
	return fileBlobs{dir: bundle.Blobs{Dir: dir}, mu: &sync.Mutex{}}
}

// fileBlobs are blobs in the data dir.
type fileBlobs struct {
	dir bundle.Blobs
	// mu orders a look at a blob, which renews its stamp, and retention,
	// which removes the old ones: a blob a deploy is about to name again
	// is never removed between the two.
	mu *sync.Mutex
}

// Has tells whether the blob is stored, and renews an old one's stamp (its
// modification time): it is about to be named again.
func (f fileBlobs) Has(_ context.Context, hash string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dir.Has(hash) {
		return false, nil
	}
	path := filepath.Join(f.dir.Dir, hash[:2], hash)
	if info, err := os.Stat(path); err == nil && time.Since(info.ModTime()) > record.BlobTouchAge {
		now := time.Now()
		_ = os.Chtimes(path, now, now)
	}
	return true, nil
}

func (f fileBlobs) Put(_ context.Context, hash string, size int64, r io.Reader) (int64, error) {
	return f.dir.Put(hash, size, r)
}
func (f fileBlobs) Size(_ context.Context, hash string) (int64, error) { return f.dir.Size(hash) }
func (f fileBlobs) WriteTar(_ context.Context, w io.Writer, m api.Manifest) error {
	return f.dir.WriteTar(w, m)
}

func (f fileBlobs) Prune(_ context.Context, keep map[string]bool, cutoff time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return pruneDir(f.dir.Dir, keep, cutoff)
}

func (f fileBlobs) Delete(_ context.Context, hash string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return removeBlobFile(f.dir, hash)
}

// removeBlobFile removes a blob's file from dir, if it is there.
func removeBlobFile(dir bundle.Blobs, hash string) error {
	if !isSHA256(hash) {
		return nil
	}
	if err := os.Remove(filepath.Join(dir.Dir, hash[:2], hash)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// dbBlobs are blobs in the shared database. The data dir caches them: an
// upload is verified there (hash and size, as on one machine) before it
// goes into the database, and a bundle is sent from there once the blobs
// it lacks are fetched.
type dbBlobs struct {
	store interface {
		BlobStore
		PruneBlobs(ctx context.Context, keep map[string]bool, cutoff time.Time) (int, error)
	}
	cache bundle.Blobs
}

func (d dbBlobs) Has(ctx context.Context, hash string) (bool, error) {
	return d.store.HasBlob(ctx, hash)
}

func (d dbBlobs) Put(ctx context.Context, hash string, size int64, r io.Reader) (int64, error) {
	n, err := d.cache.Put(hash, size, r)
	if err != nil {
		return n, err
	}
	f, err := os.Open(filepath.Join(d.cache.Dir, hash[:2], hash))
	if err != nil {
		return n, err
	}
	defer f.Close()
	if err := d.store.PutBlob(ctx, hash, f); err != nil {
		return n, fmt.Errorf("storing the upload in the database: %w", err)
	}
	return n, nil
}

func (d dbBlobs) Size(ctx context.Context, hash string) (int64, error) {
	return d.store.BlobSize(ctx, hash)
}

func (d dbBlobs) WriteTar(ctx context.Context, w io.Writer, m api.Manifest) error {
	for _, f := range m.Files {
		if len(f.SHA256) != 64 || d.cache.Has(f.SHA256) {
			continue
		}
		if err := d.fetch(ctx, f.SHA256); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// A blob missing from the database too is reported by WriteTar,
		// in the stream, like a missing file.
	}
	return d.cache.WriteTar(w, m)
}

func (d dbBlobs) Prune(ctx context.Context, keep map[string]bool, cutoff time.Time) (int, error) {
	n, err := d.store.PruneBlobs(ctx, keep, cutoff)
	if err != nil {
		return n, err
	}
	// The cache forgets them too, sparing what is young: an upload just
	// verified there is named by no bundle yet.
	_, err = pruneDir(d.cache.Dir, keep, cutoff)
	return n, err
}

func (d dbBlobs) Delete(ctx context.Context, hash string) error {
	if _, err := d.store.DeleteBlob(ctx, hash, time.Time{}); err != nil {
		return err
	}
	return removeBlobFile(d.cache, hash)
}

// fetch copies a blob from the database into the cache, checked against
// its hash: a damaged copy would be sent from the cache for good.
func (d dbBlobs) fetch(ctx context.Context, hash string) error {
	src, err := d.store.OpenBlob(ctx, hash)
	if errors.Is(err, record.ErrNotFound) {
		return os.ErrNotExist
	}
	if err != nil {
		return fmt.Errorf("reading blob %s from the database: %w", hash, err)
	}
	defer src.Close()
	dir := filepath.Join(d.cache.Dir, hash[:2])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), src); err != nil {
		tmp.Close()
		return fmt.Errorf("reading blob %s from the database: %w", hash, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return fmt.Errorf("blob %s in the database hashes to %s", hash, got)
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, hash))
}
