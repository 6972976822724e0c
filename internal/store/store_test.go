package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/pgtest"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

var pg pgtest.Shared

func TestMain(m *testing.M) { code := m.Run(); pg.Close(); os.Exit(code) }

// engines runs test on an empty store of each engine: the conformance
// suite is every test of this package.
func engines(t *testing.T, test func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, openPostgres(t, pg.DB(t)))
	})
}

func openPostgres(t *testing.T, url string) *Store {
	t.Helper()
	db, err := sqldb.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func create(t *testing.T, s *Store, id, project string) {
	t.Helper()
	err := s.CreateRun(context.Background(), StoredRun{Run: api.Run{ID: id, Project: project, Status: api.StatusQueued, CreatedAt: time.Now(), Bundle: "b"},
		ProjectFile: "project: " + project + "\n", Pass: map[string]string{"BUNDLE_X": "1"}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunLifecycle(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i := range 3 {
			create(t, s, fmt.Sprintf("r%d", i), []string{"a", "b", "a"}[i])
		}
		runs, err := s.ListRuns(ctx, "", nil, 0)
		if err != nil || len(runs) != 3 || runs[0].ID != "r2" {
			t.Fatalf("newest first: %+v %v", runs, err)
		}
		if runs, _ := s.ListRuns(ctx, "a", nil, 0); len(runs) != 2 {
			t.Fatalf("by project: %d", len(runs))
		}
		if q, _ := s.Queued(ctx); len(q) != 3 || q[0].ID != "r0" {
			t.Fatalf("queue is oldest first: %+v", q)
		}
		tests := []struct {
			id, to string
			from   []string
			want   bool
		}{
			{"r0", api.StatusProvisioning, []string{api.StatusQueued}, true},
			{"r0", api.StatusProvisioning, []string{api.StatusQueued}, false}, // it moved on already
			{"r0", api.StatusRunning, []string{api.StatusProvisioning}, true},
			{"r0", api.StatusSucceeded, []string{api.StatusRunning}, true},
			{"r0", api.StatusCancelled, []string{api.StatusQueued, api.StatusRunning}, false}, // final stays final
			{"r1", api.StatusProvisioning, []string{api.StatusQueued}, true},
		}
		for _, tt := range tests {
			ok, err := s.Transition(ctx, tt.id, tt.from, tt.to, "", nil)
			if err != nil || ok != tt.want {
				t.Errorf("%s → %s: %v %v, want %v", tt.id, tt.to, ok, err, tt.want)
			}
		}
		r0, _ := s.GetRun(ctx, "r0")
		if r0.Status != api.StatusSucceeded || r0.StartedAt == nil || r0.FinishedAt == nil || r0.Pass["BUNDLE_X"] != "1" {
			t.Fatalf("r0 %+v", r0)
		}
		n, err := s.FailUnfinished(ctx, "server restarted")
		if err != nil || n != 1 {
			t.Fatalf("FailUnfinished: %d %v", n, err)
		}
		r1, _ := s.GetRun(ctx, "r1")
		if r1.Status != api.StatusFailed || r1.Reason != "server restarted" {
			t.Fatalf("r1 %+v", r1)
		}
		if r2, _ := s.GetRun(ctx, "r2"); r2.Status != api.StatusQueued {
			t.Fatalf("a queued run must stay queued: %s", r2.Status)
		}
		if _, err := s.GetRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing run: %v", err)
		}
	})
}

func TestLogChunks(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		create(t, s, "r", "p")
		for i := range 5 {
			seq, err := s.AppendLog(ctx, "r", fmt.Sprintf("line %d\n", i))
			if err != nil || seq != int64(i+1) {
				t.Fatalf("AppendLog: %d %v", seq, err)
			}
		}
		chunks, err := s.ReadLog(ctx, "r", 3)
		if err != nil || len(chunks) != 2 || chunks[0].Seq != 4 || chunks[1].Data != "line 4\n" {
			t.Fatalf("ReadLog after 3: %+v %v", chunks, err)
		}
	})
}

func TestBundles(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		m := api.Manifest{Files: []api.File{{Path: "a", Mode: 0o644, Size: 1, SHA256: "ab"}}}
		if err := s.PutBundle(ctx, "id1", m); err != nil {
			t.Fatal(err)
		}
		if err := s.PutBundle(ctx, "id1", m); err != nil {
			t.Fatalf("storing the same bundle twice: %v", err)
		}
		got, err := s.GetBundle(ctx, "id1")
		if err != nil || len(got.Files) != 1 || got.Files[0].Path != "a" {
			t.Fatalf("GetBundle: %+v %v", got, err)
		}
		if _, err := s.GetBundle(ctx, "none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing bundle: %v", err)
		}
	})
}
