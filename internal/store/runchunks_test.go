package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

// A run's uploads are bounded in bytes and number, counted once per
// chunk, also when reservations race (on PostgreSQL, from any server);
// what an ended run never recorded is found, and what others still need
// is told apart.
func TestRunChunks(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		create(t, s, "r1", "a")
		create(t, s, "r2", "b")
		h := func(i int) string { return fmt.Sprintf("%064x", i) }
		if ok, err := s.ReserveRunChunk(ctx, "r1", h(1), 600, 1000, 3); !ok || err != nil {
			t.Fatalf("first: %v %v", ok, err)
		}
		if ok, err := s.ReserveRunChunk(ctx, "r1", h(1), 600, 1000, 3); ok || err != nil {
			t.Fatalf("the same chunk again is counted once: %v %v", ok, err)
		}
		if _, err := s.ReserveRunChunk(ctx, "r1", h(2), 401, 1000, 3); !errors.Is(err, ErrOverBudget) {
			t.Fatalf("past the bytes: %v", err)
		}
		if _, err := s.ReserveRunChunk(ctx, "nope", h(2), 1, 1000, 3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown run: %v", err)
		}
		// Twenty at once, room for two more chunks: two get it.
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				ok, err := s.ReserveRunChunk(ctx, "r1", h(100+i), 10, 1000, 3)
				if err != nil && !errors.Is(err, ErrOverBudget) {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		chunks, err := s.RunChunks(ctx, "r1")
		if err != nil || len(chunks) != 3 || int(won.Load()) != 2 || chunks[h(1)] != 600 {
			t.Fatalf("chunks %v %v; %d reservations won", chunks, err, won.Load())
		}
		for c := range chunks {
			if c != h(1) {
				if err := s.ReleaseRunChunk(ctx, "r1", c); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := s.ReserveRunChunk(ctx, "r1", h(3), 100, 1000, 3); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReserveRunChunk(ctx, "r2", h(3), 100, 1000, 3); err != nil {
			t.Fatal(err)
		}
		if err := s.AddArtifact(ctx, "r1", api.Artifact{Name: "kept", Size: 600}, []string{h(1)}); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.EndedChunkRuns(ctx); err != nil || len(runs) != 0 {
			t.Fatalf("live runs' uploads listed as ended: %v %v", runs, err)
		}
		if _, err := s.Transition(ctx, "r1", []string{api.StatusQueued}, api.StatusSucceeded, "", nil); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.EndedChunkRuns(ctx); err != nil || !slices.Equal(runs, []string{"r1"}) {
			t.Fatalf("ended: %v %v", runs, err)
		}
		left, err := s.UnrecordedChunks(ctx, "r1")
		if err != nil || !slices.Equal(left, []string{h(3)}) {
			t.Fatalf("unrecorded %v %v", left, err)
		}
		inUse, err := s.ChunksInUse(ctx, "r1", []string{h(1), h(3), h(4)})
		if err != nil || !inUse[h(1)] || !inUse[h(3)] || inUse[h(4)] {
			t.Fatalf("in use %v %v", inUse, err)
		}
		if err := s.ForgetRunChunks(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.EndedChunkRuns(ctx); err != nil || len(runs) != 0 {
			t.Fatalf("after forgetting: %v %v", runs, err)
		}
	})
}
