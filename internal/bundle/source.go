// Package bundle packages a project's source: which files phases see
// (.jetwayignore), and the git facts of the checkout.
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
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/jetway-dev/jetway/internal/api"
)

// IgnoreFile lists paths left out of the source that phases see. The
// image build context honours .dockerignore instead.
const IgnoreFile = ".jetwayignore"

// ReadIgnore reads an ignore file (dockerignore syntax) in dir; a missing
// file means no patterns.
func ReadIgnore(dir, name string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return patterns, nil
}

// walk visits the files of dir that patterns do not exclude, with their
// slash-separated relative paths, parents before children.
func walk(dir string, patterns []string, visit func(rel, path string, info fs.FileInfo) error) error {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("ignore patterns: %w", err)
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return visit(rel, path, info)
	})
}

// CopyTree copies src into dst (which must exist), leaving out what the
// patterns exclude, keeping modes and symbolic links, and handing every
// copy to uid:gid (-1 keeps the owner).
func CopyTree(src, dst string, patterns []string, uid, gid int) error {
	return walk(src, patterns, func(rel, path string, info fs.FileInfo) error {
		target := filepath.Join(dst, filepath.FromSlash(rel))
		switch {
		case info.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()|0o700); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			return os.Lchown(target, uid, gid)
		case info.Mode().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // sockets, devices and pipes are not source
		}
		return os.Chown(target, uid, gid)
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
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
