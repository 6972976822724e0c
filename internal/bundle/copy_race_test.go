//go:build linux

package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// While the source is copied into a workspace, a directory of the
// workspace and a link to a directory outside it swap places, 200 times
// over: nothing may ever be written outside the workspace.
func TestCopyTreeSwapRaceNeverWritesOutside(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a-padding"), bytes.Repeat([]byte{'p'}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "d0", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"d0/f0", "d0/f1", "d0/sub/f2"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte("source"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := t.TempDir()
	for i := range 200 {
		dst := t.TempDir()
		if err := os.Symlink(outside, filepath.Join(dst, "l")); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				_ = unix.Renameat2(unix.AT_FDCWD, filepath.Join(dst, "d0"), unix.AT_FDCWD, filepath.Join(dst, "l"), unix.RENAME_EXCHANGE)
			}
		}()
		_ = CopyTree(src, dst, false, -1, -1) // failing is fine; writing outside is not
		close(done)
		wg.Wait()
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Fatalf("iteration %d: the copy wrote %s outside the workspace", i, entries[0].Name())
		}
	}
}
