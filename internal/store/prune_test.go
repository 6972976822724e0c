package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

func TestPrune(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		hash := func(i int) string { return fmt.Sprintf("%064d", i) }
		// Six runs, each with its bundle naming one blob of its own and a
		// shared one; the oldest four finished, then one running and one
		// queued.
		for i := range 6 {
			bundle := fmt.Sprintf("b%d", i)
			if err := s.PutBundle(ctx, bundle, api.Manifest{Files: []api.File{{Path: "own", SHA256: hash(i)}, {Path: "shared", SHA256: hash(99)}}}); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("r%d", i)
			if err := s.CreateRun(ctx, StoredRun{Run: api.Run{ID: id, Project: id, Status: api.StatusQueued, CreatedAt: time.Now(), Bundle: bundle}, ProjectFile: "project: p\n"}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AppendLog(ctx, id, "log of "+id); err != nil {
				t.Fatal(err)
			}
			if err := s.PutBlob(ctx, hash(i), bytes.NewReader([]byte(id))); err != nil {
				t.Fatal(err)
			}
			switch {
			case i < 4:
				s.Transition(ctx, id, []string{api.StatusQueued}, api.StatusSucceeded, "", nil)
			case i == 4:
				s.Transition(ctx, id, []string{api.StatusQueued}, api.StatusRunning, "", nil)
			}
		}
		if err := s.PutBlob(ctx, hash(99), bytes.NewReader([]byte("shared"))); err != nil {
			t.Fatal(err)
		}
		// Artifacts: r1's (a run that goes) and r5's (kept), each with a
		// chunk of its own.
		for _, a := range []struct {
			run  string
			hash int
		}{{"r1", 71}, {"r5", 75}} {
			if err := s.PutBlob(ctx, hash(a.hash), bytes.NewReader([]byte("artifact"))); err != nil {
				t.Fatal(err)
			}
			if err := s.AddArtifact(ctx, a.run, api.Artifact{Name: "coverage/index.html", Size: 8, SHA256: hash(a.hash)}, []string{hash(a.hash)}); err != nil {
				t.Fatal(err)
			}
		}
		// An upload whose bundle is not stored yet.
		if err := s.PutBlob(ctx, hash(50), bytes.NewReader([]byte("in flight"))); err != nil {
			t.Fatal(err)
		}

		// Keep the newest 3: r0, r1 and r2 go (finished, beyond them).
		n, err := s.PruneRuns(ctx, 3, time.Time{})
		if err != nil || n != 3 {
			t.Fatalf("PruneRuns: %d %v", n, err)
		}
		for i := range 6 {
			_, err := s.GetRun(ctx, fmt.Sprintf("r%d", i))
			chunks, _ := s.ReadLog(ctx, fmt.Sprintf("r%d", i), 0)
			if gone := i < 3; gone != (err != nil) || gone != (len(chunks) == 0) {
				t.Errorf("r%d: get %v, %d log chunks", i, err, len(chunks))
			}
		}
		// A cutoff in the future takes every finished run, never an active one.
		if n, err := s.PruneRuns(ctx, 0, time.Now().Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("PruneRuns by age: %d %v", n, err)
		}
		// Bundles and blobs: a cutoff in the past spares new ones.
		keep, err := s.PruneBundles(ctx, time.Now().Add(-time.Hour))
		// Six bundles' own blobs and the shared one, and r5's artifact
		// (r1's went with r1).
		if err != nil || len(keep) != 8 {
			t.Fatalf("nothing is old enough: keep %d %v", len(keep), err)
		}
		keep, err = s.PruneBundles(ctx, time.Now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []int{4, 5, 99, 75} {
			if !keep[hash(h)] {
				t.Errorf("blob %d of a kept run is not kept", h)
			}
		}
		if len(keep) != 4 {
			t.Errorf("keep %d blobs, want 4", len(keep))
		}
		if n, err := s.PruneBlobs(ctx, keep, time.Now().Add(time.Second)); err != nil || n != 6 {
			t.Fatalf("PruneBlobs: %d %v", n, err)
		}
		if arts, _ := s.ListArtifacts(ctx, "r1"); len(arts) != 0 {
			t.Errorf("a pruned run's artifacts are still listed: %+v", arts)
		}
		for _, h := range []int{4, 5, 99, 75} {
			if ok, _ := s.HasBlob(ctx, hash(h)); !ok {
				t.Errorf("blob %d was removed", h)
			}
		}
	})
}
