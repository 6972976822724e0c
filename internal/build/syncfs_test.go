package build

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// readAll walks fsys as BuildKit's file sync does, resolves the links of
// follow as its filter does for FollowPaths, and reads every regular file
// it lists, the resolved paths and the paths in extra. It returns the
// bytes read.
func readAll(t *testing.T, fsys fsutil.FS, follow []string, extra ...string) []byte {
	t.Helper()
	var all bytes.Buffer
	paths := append([]string{}, extra...)
	if targets, err := fsutil.FollowLinks(fsys, follow); err == nil {
		paths = append(paths, targets...)
	}
	_ = fsys.Walk(context.Background(), "/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*fstypes.Stat); ok && fs.FileMode(st.Mode).IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	for _, p := range paths {
		rc, err := fsys.Open(p)
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		all.Write(data)
	}
	return all.Bytes()
}

// Links in the workspace (to a file, to a directory, as the Dockerfile)
// are sent as links; nothing the root-run runner reads through the file
// sync comes from outside the workspace.
func TestSyncFSNeverFollowsLinksOut(t *testing.T) {
	ws := t.TempDir()
	outside, secret := outsideSecret(t)
	must(t, os.WriteFile(filepath.Join(ws, "app.txt"), []byte("app"), 0o644))
	must(t, os.Symlink(filepath.Join(outside, "token"), filepath.Join(ws, "leak")))
	must(t, os.Symlink(outside, filepath.Join(ws, "dir")))
	must(t, os.Symlink(filepath.Join(outside, "token"), filepath.Join(ws, "Dockerfile")))
	root, err := os.OpenRoot(ws)
	must(t, err)
	defer root.Close()
	wfs := &workspaceFS{root: root}
	got := readAll(t, wfs, []string{"Dockerfile", "leak", "dir/token"}, "leak", "dir/token", "Dockerfile", "../"+filepath.Base(outside)+"/token", "/etc/passwd")
	if bytes.Contains(got, secret) {
		t.Fatal("the file sync read a file outside the workspace through a link")
	}
	if !bytes.Contains(got, []byte("app")) {
		t.Fatalf("the file sync did not read the workspace's own file: %q", got)
	}
	var links []string
	_ = wfs.Walk(context.Background(), "", func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.Type()&fs.ModeSymlink != 0 {
			links = append(links, p)
		}
		return nil
	})
	if len(links) != 3 {
		t.Fatalf("links listed: %v; want leak, dir and Dockerfile as links", links)
	}
}

// The attack of the "Run isolation" issue against the file sync: while
// it walks and reads, d0 and a link to a directory outside swap places.
func TestSyncFSSwapRaceNeverLeavesTheWorkspace(t *testing.T) {
	ws := t.TempDir()
	outside, secret := outsideSecret(t)
	must(t, os.WriteFile(filepath.Join(ws, "Dockerfile"), []byte("FROM scratch\nCOPY . /z\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(ws, "a-padding"), bytes.Repeat([]byte{'p'}, 64<<10), 0o644))
	must(t, os.Mkdir(filepath.Join(ws, "d0"), 0o755))
	for _, name := range []string{"token", "f0", "f1"} {
		must(t, os.WriteFile(filepath.Join(ws, "d0", name), []byte("workspace"), 0o644))
	}
	must(t, os.Symlink(outside, filepath.Join(ws, "l")))
	root, err := os.OpenRoot(ws)
	must(t, err)
	defer root.Close()
	stop := swapper(t, filepath.Join(ws, "d0"), filepath.Join(ws, "l"))
	defer stop()
	for i := range swapRaceIterations {
		if got := readAll(t, &workspaceFS{root: root}, nil, "d0/token", "l/token"); bytes.Contains(got, secret) {
			t.Fatalf("iteration %d: the file sync read bytes from outside the workspace", i)
		}
	}
}

// Same content, same stat: a workspace copied afresh (new times, new
// owner) looks unchanged to the receiver, and a changed file does not.
func TestSyncFSStatDependsOnContentOnly(t *testing.T) {
	stat := func(content string) *fstypes.Stat {
		ws := t.TempDir()
		must(t, os.WriteFile(filepath.Join(ws, "f"), []byte(content), 0o644))
		root, err := os.OpenRoot(ws)
		must(t, err)
		defer root.Close()
		var st *fstypes.Stat
		_ = (&workspaceFS{root: root}).Walk(context.Background(), "", func(p string, d fs.DirEntry, err error) error {
			info, _ := d.Info()
			st = info.Sys().(*fstypes.Stat)
			return nil
		})
		return st
	}
	a, b, c := stat("one"), stat("one"), stat("two")
	if a.ModTime != b.ModTime || a.Uid != 0 || a.Gid != 0 {
		t.Fatalf("same content, different stat: %v %v", a, b)
	}
	if a.ModTime == c.ModTime {
		t.Fatalf("different content, same time: %v %v", a, c)
	}
}
