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
	"strings"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/internal/runstream"
)

// Artifacts: the runner uploads each file it keeps in chunks of at most
// api.ArtifactChunkSize, each a zstd-compressed blob of the same blob
// store as bundles (PUT …/artifacts/chunks/{hash}), then records the file
// as the concatenation of its chunks (POST …/artifacts), both with its run
// token. The API token lists and downloads them.

// A run's uploads are bounded as its recorded artifacts are: at most
// api.MaxArtifactsSize bytes after decompression (each chunk counted at
// its declared size, which bounds its decompression) and maxRunChunks
// chunks, each counted once however often it is sent. What a run uploads
// but never records is removed when it ends (see sweepRunChunks). The
// chunk bound is what the largest honest run needs: one partial chunk
// per file, and full chunks for the bytes. (A variable for tests.)
var maxRunChunks = api.MaxArtifacts + api.MaxArtifactsSize/api.ArtifactChunkSize

// putArtifactChunk stores one chunk; ?size=N (required) is its size,
// which bounds its decompression. The chunk is recorded as the run's
// before it is read, within the run's bounds.
func (s *Server) putArtifactChunk(w http.ResponseWriter, r *http.Request) {
	ctx, id, hash := r.Context(), r.PathValue("id"), r.PathValue("hash")
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || size < 0 || size > api.ArtifactChunkSize {
		writeError(w, http.StatusBadRequest, "chunk %s: size %q is not a number of bytes up to %d", hash, r.URL.Query().Get("size"), api.ArtifactChunkSize)
		return
	}
	if !isSHA256(hash) {
		writeError(w, http.StatusBadRequest, "chunk %q: not a sha256 hash", hash)
		return
	}
	reserved, err := s.runs.ReserveRunChunk(ctx, id, hash, size, api.MaxArtifactsSize, maxRunChunks)
	switch {
	case errors.Is(err, record.ErrOverBudget):
		// The body is not read: the connection closes instead of taking it.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "chunk %s: run %s has uploaded all it may: a run uploads at most %d chunks, %s in all (its artifact limit)",
			hash, id, maxRunChunks, api.HumanBytes(api.MaxArtifactsSize))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "chunk %s: recording the upload: %v", hash, err)
		return
	}
	n, err := s.blobs.Put(ctx, hash, size, r.Body)
	if err != nil {
		if reserved {
			if rerr := s.runs.ReleaseRunChunk(context.WithoutCancel(ctx), id, hash); rerr != nil {
				s.log.Error("forgetting a failed chunk upload", "run", id, "chunk", hash, "err", rerr)
			}
		}
		writeError(w, http.StatusBadRequest, "chunk %s: %v", hash, err)
		return
	}
	s.metrics.Uploaded(n)
	writeJSON(w, http.StatusOK, map[string]int64{"bytes": n})
}

func isSHA256(h string) bool {
	sum, err := hex.DecodeString(h)
	return err == nil && len(sum) == sha256.Size && strings.ToLower(h) == h
}

// addArtifact records a file of the run made of chunks the run uploaded,
// within the bounds of a run's artifacts. A chunk the run did not upload
// is refused as one that is not stored, whoever else stored it: the
// answer says nothing of other runs' content.
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
	if !isSHA256(a.SHA256) {
		writeError(w, http.StatusBadRequest, "artifact %s: %q is not a sha256 hash", a.Name, a.SHA256)
		return
	}
	uploaded, err := s.runs.RunChunks(ctx, id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "artifact %s: looking up its chunks: %v", a.Name, err)
		return
	}
	var total int64
	for _, h := range a.Chunks {
		_, ok := uploaded[h]
		var size int64
		if ok {
			if size, err = s.blobs.Size(ctx, h); err != nil {
				ok = false
			}
		}
		if !ok {
			writeError(w, http.StatusBadRequest, "artifact %s: chunk %.64q was not uploaded by this run; upload it first (PUT /v1/runs/%s/artifacts/chunks/HASH)", a.Name, h, id)
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
	case errors.Is(err, record.ErrNotFound):
		writeError(w, http.StatusNotFound, "run %s has no artifact %q; list them with `jetway runs show %s`", run.ID, r.PathValue("name"), run.ID)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	defer content.Close()
	runstream.ServeArtifact(w, a, content, s.log.Error)
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
	if _, err := d.GetRun(ctx, id); err != nil {
		return nil, err
	}
	return d.s.runs.ListArtifacts(ctx, id)
}

// OpenArtifact reads an artifact for the dashboard's download links.
func (d dashboardSource) OpenArtifact(ctx context.Context, id, name string) (api.Artifact, io.ReadCloser, error) {
	if _, err := d.GetRun(ctx, id); err != nil {
		return api.Artifact{}, nil, err
	}
	return d.s.openArtifact(ctx, id, name)
}
