package runproto

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

// A server that refuses an artifact upload for good (413: past the run's
// limit; 409: the run has ended) costs the run no failure: the run's log
// gets one warning, nothing more is sent, and the caller is told (a typed
// refusal, which IsArtifactRefused names) so that it says no more file
// is kept. Other refusals are errors.
func TestArtifactRefusalsAreWarnings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"past the limit", http.StatusRequestEntityTooLarge, "artifacts: the server refused a chunk (413): a run uploads at most 5 chunks; no more files of this run are kept on the server, the run goes on"},
		{"after the end", http.StatusConflict, "artifacts: the server refused a chunk (409): a run uploads at most 5 chunks; no more files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var events []api.Event
			chunks, artifacts := 0, 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case strings.Contains(r.URL.Path, "/artifacts/chunks/"):
					chunks++
					if chunks > 1 {
						w.WriteHeader(tc.status)
						_ = json.NewEncoder(w).Encode(map[string]string{"error": "a run uploads at most 5 chunks"})
						return
					}
					_ = json.NewEncoder(w).Encode(map[string]int{"bytes": 1})
				case strings.HasSuffix(r.URL.Path, "/artifacts"):
					artifacts++
					w.WriteHeader(http.StatusCreated)
					_, _ = w.Write([]byte("{}"))
				case strings.HasSuffix(r.URL.Path, "/events"):
					var batch []api.Event
					_ = json.NewDecoder(r.Body).Decode(&batch)
					events = append(events, batch...)
					_ = json.NewEncoder(w).Encode(EventsAck{Acked: batch[len(batch)-1].Seq})
				}
			}))
			defer srv.Close()
			ctx := context.Background()
			c := NewRunClient(srv.URL, "r1", "jwr_x", "")
			u := c.Events(ctx, UploaderOptions{})
			for i, data := range []string{"one", "two", "three"} {
				err := c.PutArtifactChunk(ctx, strings.Repeat("a", 63)+string(rune('0'+i)), []byte(data))
				if refused := i > 0; refused != IsArtifactRefused(err) || (!refused && err != nil) {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			if err := c.AddArtifact(ctx, api.NewArtifact{Artifact: api.Artifact{Name: "x"}}); !IsArtifactRefused(err) {
				t.Fatalf("an artifact after the refusal: %v", err)
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if chunks != 2 || artifacts != 0 {
				t.Errorf("sent %d chunks and %d artifacts after the refusal; want 2 and 0", chunks, artifacts)
			}
			if len(events) != 1 || events[0].Type != "warning" || !strings.HasPrefix(events[0].Message, tc.want) {
				t.Fatalf("events %+v, want one warning %q", events, tc.want)
			}
		})
	}
	// Without the run's uploader the refusal is the caller's, typed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = w.Write([]byte(`{"error":"too much"}`))
	}))
	defer srv.Close()
	err := NewRunClient(srv.URL, "r1", "jwr_x", "").PutArtifactChunk(context.Background(), strings.Repeat("a", 64), []byte("x"))
	if !IsArtifactRefused(err) || !strings.Contains(err.Error(), "too much") {
		t.Fatalf("%v", err)
	}
}
