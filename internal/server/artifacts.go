package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jetway-dev/jetway/internal/api"
	storepkg "github.com/jetway-dev/jetway/internal/store"
	"github.com/jetway-dev/jetway/web"
)

// Artifacts: the runner uploads each file it keeps in chunks of at most
// api.ArtifactChunkSize, each a zstd-compressed blob of the same blob
// store as bundles (PUT …/artifacts/chunks/{hash}), then records the file
// as the concatenation of its chunks (POST …/artifacts), both with its run
// token. The API token lists and downloads them.

// putArtifactChunk stores one chunk; ?size=N (required) is its size,
// which bounds its decompression.
func (s *Server) putArtifactChunk(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || size < 0 || size > api.ArtifactChunkSize {
		writeError(w, http.StatusBadRequest, "chunk %s: size %q is not a number of bytes up to %d", hash, r.URL.Query().Get("size"), api.ArtifactChunkSize)
		return
	}
	s.storeBlob(w, r, "chunk", hash, size, r.Body)
}

// addArtifact records a file of the run whose chunks are stored, within
// the bounds of a run's artifacts.
func (s *Server) addArtifact(w http.ResponseWriter, r *http.Request) {
	var a api.NewArtifact
	if !decodeBody(w, r, &a) {
		return
	}
	ctx, id := r.Context(), r.PathValue("id")
	if err := api.CheckArtifactName(a.Name); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if sum, err := hex.DecodeString(a.SHA256); err != nil || len(sum) != sha256.Size {
		writeError(w, http.StatusBadRequest, "artifact %s: %q is not a sha256 hash", a.Name, a.SHA256)
		return
	}
	var total int64
	for _, h := range a.Chunks {
		ok, err := s.blobs.Has(ctx, h)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "artifact %s: looking up chunk %s: %v", a.Name, h, err)
			return
		}
		size, err := s.blobs.Size(ctx, h)
		if err != nil || !ok {
			writeError(w, http.StatusBadRequest, "artifact %s: chunk %s is not stored; upload it first (PUT /v1/runs/%s/artifacts/chunks/HASH)", a.Name, h, id)
			return
		}
		total += size
	}
	if total != a.Size {
		writeError(w, http.StatusBadRequest, "artifact %s: its chunks hold %d bytes, not %d", a.Name, total, a.Size)
		return
	}
	kept, err := s.runs.ListArtifacts(ctx, id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	count, size := 1, a.Size
	for _, k := range kept {
		if k.Name != a.Name {
			count++
			size += k.Size
		}
	}
	if count > api.MaxArtifacts || size > api.MaxArtifactsSize {
		writeError(w, http.StatusRequestEntityTooLarge, "artifact %s: a run keeps at most %d files of %s together", a.Name, api.MaxArtifacts, api.HumanBytes(api.MaxArtifactsSize))
		return
	}
	if err := s.runs.AddArtifact(ctx, id, a.Artifact, a.Chunks); err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusCreated, a.Artifact)
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	arts, err := s.runs.ListArtifacts(r.Context(), run.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if arts == nil {
		arts = []api.Artifact{}
	}
	writeJSON(w, http.StatusOK, arts)
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	a, content, err := s.openArtifact(r.Context(), run.ID, r.PathValue("name"))
	switch {
	case errors.Is(err, storepkg.ErrNotFound):
		writeError(w, http.StatusNotFound, "run %s has no artifact %q; list them with `jetway runs show %s`", run.ID, r.PathValue("name"), run.ID)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	defer content.Close()
	web.ServeArtifact(w, a, content, s.log.Error)
}

// openArtifact reads an artifact's content, checking its chunks against
// the artifact's size and hash as they are read.
func (s *Server) openArtifact(ctx context.Context, runID, name string) (api.Artifact, io.ReadCloser, error) {
	a, chunks, err := s.runs.GetArtifact(ctx, runID, name)
	if err != nil {
		return a, nil, err
	}
	return a, &artifactReader{ctx: ctx, open: s.blobs.Open, chunks: chunks, want: a, sum: sha256.New()}, nil
}

// artifactReader concatenates an artifact's chunks, opened one at a
// time, and fails at the end if they do not add up to the artifact.
type artifactReader struct {
	ctx    context.Context
	open   func(ctx context.Context, hash string) (io.ReadCloser, error)
	chunks []string
	cur    io.ReadCloser
	want   api.Artifact
	n      int64
	sum    hash.Hash
}

func (r *artifactReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.chunks) == 0 {
				if r.n != r.want.Size || hex.EncodeToString(r.sum.Sum(nil)) != r.want.SHA256 {
					return 0, fmt.Errorf("artifact %s: the stored content does not match its size and hash", r.want.Name)
				}
				return 0, io.EOF
			}
			c, err := r.open(r.ctx, r.chunks[0])
			if err != nil {
				return 0, fmt.Errorf("artifact %s: chunk %s: %w", r.want.Name, r.chunks[0], err)
			}
			r.cur, r.chunks = c, r.chunks[1:]
		}
		n, err := r.cur.Read(p)
		r.n += int64(n)
		r.sum.Write(p[:n])
		if errors.Is(err, io.EOF) {
			r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *artifactReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

func (f fileBlobs) Open(_ context.Context, hash string) (io.ReadCloser, error) {
	if !f.dir.Has(hash) {
		return nil, os.ErrNotExist
	}
	return os.Open(filepath.Join(f.dir.Dir, hash[:2], hash))
}

func (d dbBlobs) Open(ctx context.Context, hash string) (io.ReadCloser, error) {
	return d.store.OpenBlob(ctx, hash)
}

// ListArtifacts lists a run's artifacts for the dashboard's run page.
func (d dashboardSource) ListArtifacts(ctx context.Context, id string) ([]api.Artifact, error) {
	return d.s.runs.ListArtifacts(ctx, id)
}

// OpenArtifact reads an artifact for the dashboard's download links.
func (d dashboardSource) OpenArtifact(ctx context.Context, id, name string) (api.Artifact, io.ReadCloser, error) {
	return d.s.openArtifact(ctx, id, name)
}
