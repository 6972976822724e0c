package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
	"github.com/jetway-dev/jetway/internal/sqldb"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

// Attacks of a hostile runner: an agent token leases a run, and the run
// token it gets is used by hand, on each engine.

// onEngines runs test on a real server of each engine; hasBlob tells
// whether the server stores a blob.
func onEngines(t *testing.T, test func(t *testing.T, base, token string, hasBlob func(hash string) bool)) {
	t.Run("sqlite", func(t *testing.T) {
		base, token, dataDir := startServer(t)
		test(t, base, token, func(hash string) bool {
			_, err := os.Stat(filepath.Join(dataDir, "blobs", hash[:2], hash))
			return err == nil
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := server.SharedPG(t)
		base, token := servertest.Start(t, server.Options{DataDir: filepath.Join(t.TempDir(), "data")}, servertest.WithDatabase(url))
		db, err := sqldb.OpenPostgres(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		st, err := storepkg.New(context.Background(), db)
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		test(t, base, token, func(hash string) bool {
			ok, err := st.HasBlob(context.Background(), hash)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		})
	})
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// send makes one request with a bearer token and answers its status and
// error message.
func send(t *testing.T, method, url, token string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &e)
	return resp.StatusCode, e.Error
}

// putChunk uploads content as a chunk of run id, declaring size.
func putChunk(t *testing.T, base, id, runToken string, content []byte, size int) (int, string) {
	t.Helper()
	enc, _ := zstd.NewWriter(nil)
	compressed := enc.EncodeAll(content, nil)
	enc.Close()
	return send(t, http.MethodPut, fmt.Sprintf("%s/v1/runs/%s/artifacts/chunks/%s?size=%d", base, id, sha(content), size), runToken, bytes.NewReader(compressed))
}

// addArtifact records an artifact of run id made of chunks.
func addArtifact(t *testing.T, base, id, runToken, name string, chunks ...[]byte) (int, string) {
	t.Helper()
	a := api.NewArtifact{Artifact: api.Artifact{Name: name, SHA256: sha(bytes.Join(chunks, nil))}}
	for _, c := range chunks {
		a.Chunks = append(a.Chunks, sha(c))
		a.Size += int64(len(c))
	}
	body, _ := json.Marshal(a)
	return send(t, http.MethodPost, base+"/v1/runs/"+id+"/artifacts", runToken, bytes.NewReader(body))
}

// A run token's uploads are counted against the run's artifact limit,
// at the size each declares (which bounds its decompression): a few KB
// of zstd that would decompress to 16 MiB each stop at 1 GiB. A chunk
// sent again is counted once.
func TestAttackRunTokenUploadsAreBounded(t *testing.T) {
	onEngines(t, func(t *testing.T, base, token string, _ func(string) bool) {
		run, runToken := leasedToken(t, base, token, "project: fill\n", nil)
		for i := range api.MaxArtifactsSize / api.ArtifactChunkSize {
			if code, msg := putChunk(t, base, run.ID, runToken, fmt.Appendf(nil, "chunk %d", i), api.ArtifactChunkSize); code != http.StatusOK {
				t.Fatalf("chunk %d: %d %s", i, code, msg)
			}
		}
		if code, msg := putChunk(t, base, run.ID, runToken, []byte("chunk 0"), api.ArtifactChunkSize); code != http.StatusOK {
			t.Fatalf("a chunk sent again: %d %s", code, msg)
		}
		code, msg := putChunk(t, base, run.ID, runToken, []byte("one more"), 1)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "1.0 GiB in all (its artifact limit)") {
			t.Fatalf("past 1 GiB: %d %q, want a 413 naming the limit", code, msg)
		}
	})
}

// The number of chunks is bounded too: tiny chunks cost a file and a
// row each.
func TestAttackRunTokenUploadsAreCounted(t *testing.T) {
	server.SetMaxRunChunks(t, 5)
	base, token, _ := startServer(t)
	run, runToken := leasedToken(t, base, token, "project: count\n", nil)
	for i := range 5 {
		c := fmt.Appendf(nil, "tiny %d", i)
		if code, msg := putChunk(t, base, run.ID, runToken, c, len(c)); code != http.StatusOK {
			t.Fatalf("chunk %d: %d %s", i, code, msg)
		}
	}
	if code, msg := putChunk(t, base, run.ID, runToken, []byte("tiny 5"), 6); code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "at most 5 chunks") {
		t.Fatalf("the 6th chunk: %d %q", code, msg)
	}
}

// After its summary a run takes late events only: no artifact added or
// replaced, no chunk uploaded, during the events' grace; a 409 says why.
func TestAttackArtifactsAfterTheEnd(t *testing.T) {
	base, token, _ := startServer(t)
	run, runToken := leasedToken(t, base, token, "project: late\n", nil)
	report := []byte("<html>all green</html>")
	if code, msg := putChunk(t, base, run.ID, runToken, report, len(report)); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, msg)
	}
	if code, msg := addArtifact(t, base, run.ID, runToken, "report.html", report); code != http.StatusCreated {
		t.Fatalf("artifact: %d %s", code, msg)
	}
	finish(t, base, run.ID, runToken, api.Summary{})
	forged := []byte("<html>all red</html>")
	for name, try := range map[string]func() (int, string){
		"a chunk":               func() (int, string) { return putChunk(t, base, run.ID, runToken, forged, len(forged)) },
		"a new artifact":        func() (int, string) { return addArtifact(t, base, run.ID, runToken, "extra.html", report) },
		"a replaced artifact":   func() (int, string) { return addArtifact(t, base, run.ID, runToken, "report.html", report, report) },
		"an artifact, no chunk": func() (int, string) { return addArtifact(t, base, run.ID, runToken, "empty") },
	} {
		if code, msg := try(); code != http.StatusConflict || !strings.Contains(msg, "has ended (succeeded): it takes no more artifacts after its summary") {
			t.Errorf("%s after the summary: %d %q, want a 409", name, code, msg)
		}
	}
	// Late events still go: the summary sent again is acknowledged.
	finish(t, base, run.ID, runToken, api.Summary{})
	var got api.Run
	if err := apiclient.New(base, token).Do(context.Background(), http.MethodGet, "/v1/runs/"+run.ID, nil, nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Artifacts) != 1 || got.Artifacts[0].Size != int64(len(report)) {
		t.Fatalf("artifacts after the end: %+v", got.Artifacts)
	}
}

// An artifact is made only of chunks its own run uploaded: not of
// another run's chunk, nor of another project's bundle file, and the
// refusal reads as for a hash nobody stored (no oracle for guessed
// content). Content the run uploads itself is its own.
func TestAttackArtifactFromAnotherRunsBlob(t *testing.T) {
	onEngines(t, func(t *testing.T, base, token string, _ func(string) bool) {
		victim, victimToken := leasedToken(t, base, token, "project: victim\n", nil)
		theirs := []byte("victim's build output")
		if code, msg := putChunk(t, base, victim.ID, victimToken, theirs, len(theirs)); code != http.StatusOK {
			t.Fatalf("victim's upload: %d %s", code, msg)
		}
		if code, msg := addArtifact(t, base, victim.ID, victimToken, "out.bin", theirs); code != http.StatusCreated {
			t.Fatalf("victim's artifact: %d %s", code, msg)
		}
		// Another project's bundle file, uploaded with the API token.
		bundled := []byte("DATABASE_PASSWORD=hunter2\n")
		enc, _ := zstd.NewWriter(nil)
		if code, msg := send(t, http.MethodPut, fmt.Sprintf("%s/v1/blobs/%s?size=%d", base, sha(bundled), len(bundled)), token, bytes.NewReader(enc.EncodeAll(bundled, nil))); code != http.StatusOK {
			t.Fatalf("bundle blob: %d %s", code, msg)
		}
		enc.Close()
		run, runToken := leasedToken(t, base, token, "project: thief\n", nil)
		answers := map[string]string{}
		for what, content := range map[string][]byte{"another run's chunk": theirs, "a bundle file": bundled, "a hash nobody stored": []byte("guessed content")} {
			code, msg := addArtifact(t, base, run.ID, runToken, "loot", content)
			if code != http.StatusBadRequest {
				t.Errorf("%s: %d %q, want a 400", what, code, msg)
			}
			answers[what] = strings.ReplaceAll(msg, sha(content), "HASH")
		}
		if a, b, c := answers["another run's chunk"], answers["a bundle file"], answers["a hash nobody stored"]; a != c || b != c || !strings.Contains(c, "was not uploaded by this run") {
			t.Errorf("the answers differ or do not say why:\n%s\n%s\n%s", a, b, c)
		}
		// Uploading the content proves it.
		if code, msg := putChunk(t, base, run.ID, runToken, bundled, len(bundled)); code != http.StatusOK {
			t.Fatalf("own upload: %d %s", code, msg)
		}
		if code, msg := addArtifact(t, base, run.ID, runToken, "own", bundled); code != http.StatusCreated {
			t.Fatalf("an artifact of its own upload: %d %s", code, msg)
		}
	})
}

// What a run uploaded but never recorded is gone when it ends; what it
// recorded, and what others need (a bundle's file of the same content),
// stays.
func TestAttackUnrecordedChunksGoAtTheEnd(t *testing.T) {
	onEngines(t, func(t *testing.T, base, token string, hasBlob func(string) bool) {
		bundled := []byte("a source file\n")
		enc, _ := zstd.NewWriter(nil)
		if code, msg := send(t, http.MethodPut, fmt.Sprintf("%s/v1/blobs/%s?size=%d", base, sha(bundled), len(bundled)), token, bytes.NewReader(enc.EncodeAll(bundled, nil))); code != http.StatusOK {
			t.Fatalf("bundle blob: %d %s", code, msg)
		}
		enc.Close()
		c := apiclient.New(base, token)
		if err := c.Do(context.Background(), http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{{Path: "src.txt", Mode: 0o644, Size: int64(len(bundled)), SHA256: sha(bundled)}}}, nil); err != nil {
			t.Fatal(err)
		}
		run, runToken := leasedToken(t, base, token, "project: litter\n", nil)
		kept, litter := []byte("kept output"), []byte("never recorded")
		for _, content := range [][]byte{kept, litter, bundled} {
			if code, msg := putChunk(t, base, run.ID, runToken, content, len(content)); code != http.StatusOK {
				t.Fatalf("upload: %d %s", code, msg)
			}
		}
		if code, msg := addArtifact(t, base, run.ID, runToken, "kept", kept); code != http.StatusCreated {
			t.Fatalf("artifact: %d %s", code, msg)
		}
		if !hasBlob(sha(litter)) {
			t.Fatal("the upload is not stored")
		}
		finish(t, base, run.ID, runToken, api.Summary{})
		deadline := time.Now().Add(5 * time.Second)
		for hasBlob(sha(litter)) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if hasBlob(sha(litter)) {
			t.Error("a chunk the run never recorded outlived its end")
		}
		if !hasBlob(sha(kept)) || !hasBlob(sha(bundled)) {
			t.Errorf("the recorded chunk (%v) or the bundle's file (%v) went with it", hasBlob(sha(kept)), hasBlob(sha(bundled)))
		}
	})
}

// The runner takes a refusal as a warning in the run's log, and goes on.
func TestRunnerReportsRefusedUploads(t *testing.T) {
	server.SetMaxRunChunks(t, 2)
	base, token, _ := startServer(t)
	ctx := context.Background()
	run, rc := leased(t, base, token, "project: refused\n", nil)
	u := rc.Events(ctx, runproto.UploaderOptions{})
	for i := range 3 {
		c := fmt.Appendf(nil, "piece %d", i)
		err := rc.PutArtifactChunk(ctx, sha(c), c)
		if refused := i == 2; refused != runproto.IsArtifactRefused(err) || (!refused && err != nil) {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	// Refused for good: the runner is told so again, and keeps nothing more.
	if err := rc.AddArtifact(ctx, api.NewArtifact{Artifact: api.Artifact{Name: "x", SHA256: sha(nil)}}); !runproto.IsArtifactRefused(err) {
		t.Fatalf("an artifact after the refusal: %v", err)
	}
	u.Emit(api.Event{Type: "summary", Summary: &api.Summary{RunID: run.ID, Status: api.StatusSucceeded}})
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := apiclient.New(base, token).Stream(ctx, http.MethodGet, "/v1/runs/"+run.ID+"/logs", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(log), "artifacts: the server refused a chunk (413)") || !strings.Contains(string(log), "at most 2 chunks") {
		t.Fatalf("the log does not say the upload was refused:\n%s", log)
	}
	var got api.Run
	if err := apiclient.New(base, token).Do(ctx, http.MethodGet, "/v1/runs/"+run.ID, nil, nil, &got); err != nil || got.Status != api.StatusSucceeded || len(got.Artifacts) != 0 {
		t.Fatalf("run %s, artifacts %+v, %v", got.Status, got.Artifacts, err)
	}
}
