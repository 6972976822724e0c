package server

import (
	"context"
	"time"
)

// A run's uploaded chunks that none of its artifacts names are removed
// when it ends: at once when its summary arrives, and by a sweep every
// chunkSweepEvery for runs that end otherwise (a lost lease, a restart,
// an agent revoked) or whose removal failed. Not left to retention: it
// may be off, and keeps what it prunes for hours; after its end a run
// takes no artifact (runAuthed answers 409), so its uploads have no
// other use.
const chunkSweepEvery = time.Minute

// sweepRunChunks removes the unrecorded uploads of every ended run, now
// and every chunkSweepEvery until ctx ends.
func (s *Server) sweepRunChunks(ctx context.Context) {
	tick := time.NewTicker(chunkSweepEvery)
	defer tick.Stop()
	for {
		ids, err := s.runs.EndedChunkRuns(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("listing ended runs' uploads", "err", err)
		}
		for _, id := range ids {
			s.dropRunChunks(ctx, id)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// dropRunChunks removes the chunks run id uploaded but recorded in none
// of its artifacts, unless something else needs them (a bundle, another
// run's artifact or upload: blobs are shared by content), then forgets
// the run's uploads. Failures are logged; the sweep tries again.
func (s *Server) dropRunChunks(ctx context.Context, id string) {
	left, err := s.runs.UnrecordedChunks(ctx, id)
	if err != nil {
		s.log.Warn("listing a run's unrecorded uploads", "run", id, "err", err)
		return
	}
	if len(left) > 0 {
		inUse, err := s.runs.ChunksInUse(ctx, id, left)
		if err != nil {
			s.log.Warn("checking a run's unrecorded uploads", "run", id, "err", err)
			return
		}
		removed := 0
		for _, h := range left {
			if inUse[h] {
				continue
			}
			if err := s.blobs.Delete(ctx, h); err != nil {
				s.log.Warn("removing a run's unrecorded upload", "run", id, "chunk", h, "err", err)
				return
			}
			removed++
		}
		if removed > 0 {
			s.log.Info("removed the uploads a run did not record", "run", id, "chunks", removed)
		}
	}
	if err := s.runs.ForgetRunChunks(ctx, id); err != nil {
		s.log.Warn("forgetting a run's uploads", "run", id, "err", err)
	}
}
