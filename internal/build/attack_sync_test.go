package build

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tonistiigi/fsutil"
)

// hugeSparse makes dir/name a file of size bytes that takes no disk: a
// phase makes one with `truncate -s 4T name` in no time.
func hugeSparse(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatalf("this filesystem makes no %d-byte sparse file: %v", size, err)
	}
	return p
}

// walkReturns walks fsys and tells whether the walk ended within limit.
// It is no speed assertion: a walk that reads the file hugeSparse made
// takes hours, one that does not reads a handful of small files; limit is
// only where the test gives up waiting.
func walkReturns(ctx context.Context, fsys fsutil.FS, limit time.Duration, fn fs.WalkDirFunc) (bool, error) {
	done := make(chan error, 1)
	go func() { done <- fsys.Walk(ctx, "/", fn) }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(limit):
		return false, nil
	}
}

// The attack: a phase leaves a 4 TiB sparse file in the workspace and
// lists it in .dockerignore (or the project does, for a data set the
// image does not need). BuildKit's file sync asks for the context with
// the .dockerignore patterns as excludes, and for the "dockerfile" dir
// with only the Dockerfile included; fsutil's filter decides on the stat
// the walk hands it. workspaceFS.stat hashes every regular file before
// the filter sees it, so an excluded file is read whole — on every build,
// twice (once per dir) — and 4 TiB of zeros keep the root runner hashing
// for the rest of the run's time.
func TestExcludedFilesAreNeverRead(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY app /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("app"), 0o644); err != nil {
		t.Fatal(err)
	}
	hugeSparse(t, dir, "dataset.bin", 4<<40)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // the walk left behind, if any, stops at its next entry
	for _, opt := range []struct {
		name string
		opt  fsutil.FilterOpt
	}{
		{"the dockerfile dir", fsutil.FilterOpt{IncludePatterns: []string{"Dockerfile", "Dockerfile.dockerignore"}}},
		{"the context, dataset.bin excluded", fsutil.FilterOpt{ExcludePatterns: []string{"dataset.bin"}}},
	} {
		filtered, err := fsutil.NewFilterFS(&workspaceFS{root: root}, &opt.opt)
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		ended, err := walkReturns(ctx, filtered, 20*time.Second, func(p string, _ fs.DirEntry, err error) error {
			seen = append(seen, p)
			return err
		})
		if !ended {
			t.Fatalf("walking %s: still reading after 20 s — the 4 TiB dataset.bin is hashed though the filter excludes it", opt.name)
		}
		if err != nil {
			t.Fatalf("walking %s: %v", opt.name, err)
		}
		if strings.Contains(strings.Join(seen, " "), "dataset.bin") {
			t.Errorf("walking %s sent %v", opt.name, seen)
		}
	}
}

// The attack: the same huge file, not excluded, and the run is cancelled
// (jetway stop, or its timeout) while the file sync hashes it: the hash
// stops with the context.
func TestWalkStopsReadingWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	big := hugeSparse(t, dir, "big", 4<<40)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the walk has big open: it is hashing it.
		for range 1000 {
			if fdOpen(big) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	// As the sync's filter does for what it keeps: the entry's stat, which
	// hashes the file.
	ended, err := walkReturns(ctx, &workspaceFS{root: root}, 20*time.Second, func(_ string, d fs.DirEntry, _ error) error {
		_, err := d.Info()
		return err
	})
	if !ended {
		t.Fatal("the walk was cancelled while it hashed a 4 TiB file and was still reading it 20 s later")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled walk returned %v, want context.Canceled", err)
	}
}

// fdOpen tells whether this process has p open.
func fdOpen(p string) bool {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == p {
			return true
		}
	}
	return false
}
