package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

func TestRerunAndRunVars(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		create(t, s, "r1", "a")
		vars := map[string]string{"COLOR": "blue", "APP_KEY": "abcdef", "DB_PASSWORD": "SSM:/dev/DB"}
		if err := s.CreateRun(ctx, StoredRun{Run: api.Run{ID: "r2", Project: "a", Status: api.StatusQueued, CreatedAt: time.Now(), Bundle: "b", RerunOf: "r1"},
			ProjectFile: "project: a\n", RunVars: vars}); err != nil {
			t.Fatal(err)
		}
		r2, err := s.GetRun(ctx, "r2")
		if err != nil {
			t.Fatal(err)
		}
		if r2.RerunOf != "r1" || r2.RunVars["APP_KEY"] != "abcdef" || len(r2.RunVars) != 3 {
			t.Fatalf("stored %+v", r2)
		}
		// What leaves the store as api.Run never holds a secret-looking value.
		if r2.Vars["APP_KEY"] != "[MASKED]" || r2.Vars["COLOR"] != "blue" || r2.Vars["DB_PASSWORD"] != "SSM:/dev/DB" {
			t.Fatalf("shown %+v", r2.Vars)
		}
		runs, _ := s.ListRuns(ctx, "a", nil, 0)
		if len(runs) != 2 || runs[0].Vars["APP_KEY"] != "[MASKED]" || runs[1].RerunOf != "" || runs[1].Vars != nil || runs[1].RunVars != nil {
			t.Fatalf("listed %+v", runs)
		}
	})
}

func TestArtifacts(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		create(t, s, "r1", "a")
		add := func(name string, size int64, chunks ...string) {
			t.Helper()
			if err := s.AddArtifact(ctx, "r1", api.Artifact{Name: name, Size: size, SHA256: "sum-" + name}, chunks); err != nil {
				t.Fatal(err)
			}
		}
		add("log/b.xml", 3, "c1")
		add("coverage/index.html", 20, "c2", "c3")
		add("log/b.xml", 4, "c4") // sent again: replaced
		list, err := s.ListArtifacts(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		want := []api.Artifact{{Name: "coverage/index.html", Size: 20, SHA256: "sum-coverage/index.html"}, {Name: "log/b.xml", Size: 4, SHA256: "sum-log/b.xml"}}
		if !slices.Equal(list, want) {
			t.Fatalf("list %+v", list)
		}
		a, chunks, err := s.GetArtifact(ctx, "r1", "coverage/index.html")
		if err != nil || a.Size != 20 || !slices.Equal(chunks, []string{"c2", "c3"}) {
			t.Fatalf("get %+v %v %v", a, chunks, err)
		}
		if _, _, err := s.GetArtifact(ctx, "r1", "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		if list, _ := s.ListArtifacts(ctx, "r2"); len(list) != 0 {
			t.Fatalf("another run's: %+v", list)
		}
	})
}
