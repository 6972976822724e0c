package server

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Retention: with --retain-runs or --retain-days, old finished runs go
// with their logs, then the bundles no kept run names, then the blobs no
// kept bundle names; with --retain-days, audit entries older too. Bundles and blobs younger than retentionGrace stay:
// a deploy uploads them before it creates its run.

const (
	retentionEvery = time.Hour
	retentionGrace = 6 * time.Hour
)

// Retention bounds what the server keeps; zero values keep everything.
type Retention struct {
	Runs int // the newest runs kept
	Days int // finished runs kept this many days
}

func (r Retention) enabled() bool { return r.Runs > 0 || r.Days > 0 }

// retain prunes now and every retentionEvery until ctx ends.
func (s *Server) retain(ctx context.Context) {
	if !s.retention.enabled() {
		return
	}
	tick := time.NewTicker(retentionEvery)
	defer tick.Stop()
	for {
		if err := s.Prune(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning old runs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Prune applies the retention once.
func (s *Server) Prune(ctx context.Context) error {
	if !s.retention.enabled() {
		return nil
	}
	p := s.runs
	var cutoff time.Time
	if s.retention.Days > 0 {
		cutoff = time.Now().AddDate(0, 0, -s.retention.Days)
	}
	runs, err := p.PruneRuns(ctx, s.retention.Runs, cutoff)
	if err != nil {
		return err
	}
	grace := time.Now().Add(-retentionGrace)
	keep, err := p.PruneBundles(ctx, grace)
	if err != nil {
		return err
	}
	blobs, err := s.blobs.Prune(ctx, keep, grace)
	if err != nil {
		return err
	}
	// The audit log is kept as long as runs are.
	entries := 0
	if !cutoff.IsZero() {
		if entries, err = p.PruneAudit(ctx, cutoff); err != nil {
			return err
		}
	}
	if runs > 0 || blobs > 0 || entries > 0 {
		s.log.Info("pruned", "runs", runs, "blobs", blobs, "audit_entries", entries)
	}
	return nil
}

// pruneDir removes the blob files of dir not in keep, modified before
// cutoff.
func pruneDir(dir string, keep map[string]bool, cutoff time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") || len(d.Name()) != 64 || keep[d.Name()] {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	return n, err
}
