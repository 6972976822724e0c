package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/record"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

// With --retain-runs 2, the oldest finished runs go with their logs, and
// so do the blobs only they needed; what the kept runs need stays.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	s, err := openServer(ctx, Options{DataDir: filepath.Join(t.TempDir(), "data"), Retention: Retention{Runs: 2}}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	put := func(content string) string {
		sum := sha256.Sum256([]byte(content))
		hash := hex.EncodeToString(sum[:])
		var z bytes.Buffer
		enc, _ := zstd.NewWriter(&z)
		enc.Write([]byte(content))
		enc.Close()
		if _, err := s.blobs.Put(ctx, hash, int64(len(content)), &z); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	shared := put("shared")
	var own []string
	for i := range 4 {
		own = append(own, put(fmt.Sprintf("own %d", i)))
		bundle := fmt.Sprintf("b%d", i)
		m := api.Manifest{Files: []api.File{{Path: "own", SHA256: own[i], Size: 5}, {Path: "shared", SHA256: shared, Size: 6}}}
		if err := s.runs.PutBundle(ctx, bundle, m); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("r%d", i)
		if err := s.runs.CreateRun(ctx, record.Run{Run: api.Run{ID: id, Project: "p", Status: api.StatusQueued, CreatedAt: time.Now(), Bundle: bundle}, ProjectFile: "project: p\n"}); err != nil {
			t.Fatal(err)
		}
		s.appendLog(ctx, id, "log\n")
		if _, err := s.runs.Transition(ctx, id, []string{api.StatusQueued}, api.StatusSucceeded, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Everything is past the grace an upload in progress gets.
	old := time.Now().Add(-2 * retentionGrace)
	if _, err := s.runs.(*storepkg.Store).DB().ExecContext(ctx, `UPDATE bundles SET created_at = ?`, old.UnixNano()); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(filepath.Join(s.dataDir, "blobs"), func(path string, _ os.DirEntry, _ error) error {
		return os.Chtimes(path, old, old)
	})
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		_, err := s.runs.GetRun(ctx, fmt.Sprintf("r%d", i))
		kept := i >= 2
		if kept != (err == nil) {
			t.Errorf("r%d: kept %v, got %v", i, kept, err)
		}
		if has, _ := s.blobs.Has(ctx, own[i]); kept != has {
			t.Errorf("the blob of r%d: kept %v, has %v", i, kept, !kept)
		}
	}
	if has, _ := s.blobs.Has(ctx, shared); !has {
		t.Error("a blob kept runs share was removed")
	}
}

// A deploy asks which blobs the server lacks, then names the ones it has
// in its bundle. Retention running in between must not remove an old blob
// that no kept bundle names yet: asking about a blob renews it.
func TestAttackRetentionRacesADeployReusingABlob(t *testing.T) {
	ctx := context.Background()
	s, err := openServer(ctx, Options{DataDir: filepath.Join(t.TempDir(), "data"), Retention: Retention{Days: 1}}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	content := []byte("a dependency unchanged for weeks")
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	var z bytes.Buffer
	enc, _ := zstd.NewWriter(&z)
	enc.Write(content)
	enc.Close()
	if _, err := s.blobs.Put(ctx, hash, int64(len(content)), &z); err != nil {
		t.Fatal(err)
	}
	// Its last bundle was pruned long ago: nothing names it, and it is far
	// past the grace of an upload in progress.
	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(filepath.Join(s.dataDir, "blobs", hash[:2], hash), old, old); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var missing api.MissingResponse
	if err := apiclient.New(srv.URL, s.token).Do(ctx, http.MethodPost, "/v1/bundles/missing", nil, api.MissingRequest{Hashes: []string{hash}}, &missing); err != nil {
		t.Fatal(err)
	}
	if len(missing.Missing) != 0 {
		t.Fatalf("the server lacks %v", missing.Missing)
	}
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.blobs.Has(ctx, hash); !has {
		t.Fatal("retention removed a blob the server had just told a deploy it holds")
	}
}
