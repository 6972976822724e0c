// Package bundle packages a project's source: which files phases see
// (.gitignore and .git/info/exclude with git's rules, then .jetwayignore
// on top; see Source), the content-addressed upload, and the git facts of
// the checkout.
//
// The gitignore rules are matched by hand-written code (gitignore.go, a
// port of git's wildmatch and of dir.c's pattern rules) rather than a
// library: the candidates served here (go-git's plumbing/format/gitignore,
// sabhiram/go-gitignore) match with filepath.Match or regular expressions
// and differ from git on negated classes ([!a]), [:class:], "**" inside a
// component and "foo/**" matching foo itself;
// go-git's also reads through go-billy, not beneath an os.Root. The tests
// compare every rule with the real git's output on generated trees.
package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/jetway-dev/jetway/internal/api"
)

// IgnoreFile lists paths left out of the source that phases see. The
// image build context honours .dockerignore instead.
const IgnoreFile = ".jetwayignore"

// ReadIgnoreIn reads an ignore file (dockerignore syntax) beneath root; a
// missing file means no patterns. It is opened beneath root, so a link
// that leads out of it is refused (root may be a run's workspace and the
// reader root), and only a regular file is read: a FIFO planted in its
// place must not hang the reader.
func ReadIgnoreIn(root *os.Root, name string) ([]string, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", name)
	}
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return patterns, nil
}

// Walk visits the entries of fsys that patterns do not exclude, with their
// slash-separated paths, parents before children. It never follows a
// symbolic link; with the FS of an os.Root, nothing it opens can lie
// outside the root even while the tree changes under it.
func Walk(fsys fs.FS, patterns []string, visit func(rel string, d fs.DirEntry) error) error {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("ignore patterns: %w", err)
	}
	return fs.WalkDir(fsys, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !pm.Exclusions() {
				return fs.SkipDir
			}
			return nil
		}
		return visit(rel, d)
	})
}

// RootFS is the FS of root for Walk when root is a tree that others may
// be changing: opens never block on a FIFO, and what is read as a
// directory must be one. Beware: os.Root (Go 1.26) follows a link that
// stays beneath the root even with O_NOFOLLOW, so a link swapped in after
// the listing is followed, though never out of the root; readers that must
// not follow one compare Lstat with the opened file (see readSmallFile).
func RootFS(root *os.Root) fs.ReadDirFS { return rootFS{root} }

type rootFS struct{ root *os.Root }

func (f rootFS) Open(name string) (fs.File, error) {
	return f.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|oNoFollow, 0)
}

func (f rootFS) ReadDir(name string) ([]fs.DirEntry, error) {
	d, err := f.root.OpenFile(name, os.O_RDONLY|oDirectory|oNoFollow|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// walkSource visits the entries of dir that a run sees (see Source).
func walkSource(dir string, visit func(rel, path string, info fs.FileInfo) error) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	src, err := OpenSource(root)
	if err != nil {
		return err
	}
	return src.Walk(func(rel string, d fs.DirEntry) error {
		info, err := d.Info()
		if err != nil {
			return err
		}
		return visit(rel, filepath.Join(dir, filepath.FromSlash(rel)), info)
	})
}

// CopyTree copies into dst (which must exist) the files of src that a run
// sees (see Source), or all of them if whole (src is a bundle, chosen by
// the same rules already), keeping modes and symbolic links, and handing
// every copy to uid:gid (-1 keeps the owner). Every write happens beneath
// dst without following links, so a link planted in dst cannot send a
// copy elsewhere.
func CopyTree(src, dst string, whole bool, uid, gid int) error {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	copyEntry := func(rel, path string, info fs.FileInfo) error {
		switch {
		case info.IsDir():
			if err := root.Mkdir(rel, info.Mode().Perm()|0o700); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := root.Symlink(link, rel); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(path, root, rel, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // sockets, devices and pipes are not source
		}
		return root.Lchown(rel, uid, gid)
	}
	if whole {
		return Walk(os.DirFS(src), nil, func(rel string, d fs.DirEntry) error {
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyEntry(rel, filepath.Join(src, filepath.FromSlash(rel)), info)
		})
	}
	return walkSource(src, copyEntry)
}

func copyFile(src string, dst *os.Root, rel string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Git is what a run records of the checkout.
type Git = api.Git

// GitInfo reads the checkout at dir; ok is false outside a git checkout.
func GitInfo(ctx context.Context, dir string) (g Git, ok bool) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		return strings.TrimSpace(out.String()), err
	}
	sha, err := git("rev-parse", "--verify", "HEAD")
	if err != nil || sha == "" {
		return Git{}, false
	}
	g.SHA = sha
	g.Branch, _ = git("rev-parse", "--abbrev-ref", "HEAD")
	status, _ := git("status", "--porcelain")
	g.Dirty = status != ""
	return g, true
}
