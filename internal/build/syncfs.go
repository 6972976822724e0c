package build

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"

	"github.com/jetway-dev/jetway/internal/bundle"
)

// syncEpoch is the day every synced file claims to have been written on,
// give or take a second; see workspaceFS.
var syncEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// workspaceFS is a run's workspace as BuildKit's file sync reads it.
//
// It is what Context is for the classic builder: the workspace belongs to
// the run's hostile processes and the runner is root, so every entry is
// found and opened beneath an os.Root, never following a link, and it is
// described as what was opened. (fsutil.NewFS walks and opens by path.)
//
// Two things in the stats it reports are not the files': every entry is
// owned by root, as with Context, because BuildKit's cache keys include
// ownership and each run has its own user; and a file's modification time
// is derived from a hash of its content. The workspace is copied afresh for
// every run, so real times differ every time; BuildKit's receiver on the
// Docker host compares stats to decide what to transfer, and would then
// take the whole context again. With content-derived times, an unchanged
// file has an unchanged stat and stays where it is, and a changed one has
// a new time (its cache keys ignore times, which only the transfer sees).
// The times lie within the first second of 2000-01-01, which is what files
// copied into the image show.
type workspaceFS struct {
	root *os.Root
}

var _ fsutil.FS = (*workspaceFS)(nil)

func (w *workspaceFS) Walk(ctx context.Context, target string, fn fs.WalkDirFunc) error {
	// The sender asks for "/" meaning the whole context.
	start := path.Clean("/" + filepath.ToSlash(target))[1:]
	if start == "" {
		start = "."
	} else {
		if !fs.ValidPath(start) {
			return fmt.Errorf("build context: %q is not a path inside the context", target)
		}
	}
	return fs.WalkDir(bundle.RootFS(w.root), start, func(rel string, d fs.DirEntry, err error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone since it was listed: the sync skips it
			}
			return err
		}
		if rel == "." {
			return nil
		}
		if t := d.Type(); !t.IsRegular() && !t.IsDir() && t&fs.ModeSymlink == 0 {
			return nil // sockets, devices and pipes are not sent
		}
		// Described only when asked: the sync's filter asks only for what
		// .dockerignore keeps, so an ignored file, however large, is never
		// read (hashing it for its stat would be).
		return fn(filepath.FromSlash(rel), &lazyEntry{ctx: ctx, w: w, rel: rel, d: d}, nil)
	})
}

// lazyEntry is a workspace entry whose stat, which reads a regular file
// whole, is made on the first call of Info.
type lazyEntry struct {
	ctx context.Context
	w   *workspaceFS
	rel string
	d   fs.DirEntry
	st  *fstypes.Stat
}

func (e *lazyEntry) Name() string      { return e.d.Name() }
func (e *lazyEntry) IsDir() bool       { return e.d.IsDir() }
func (e *lazyEntry) Type() fs.FileMode { return e.d.Type() }

func (e *lazyEntry) Info() (fs.FileInfo, error) {
	if e.st == nil {
		st, err := e.w.stat(e.ctx, e.rel, e.d)
		if err != nil {
			return nil, err
		}
		if st == nil {
			return nil, fmt.Errorf("build context: %s changed while it was read", e.rel)
		}
		e.st = st
	}
	return &fsutil.StatInfo{Stat: e.st.Clone()}, nil
}

// hashPiece is how much of a file is hashed between looks at the context.
const hashPiece = 1 << 20

// stat describes rel as found beneath the root, or returns nil for what
// is not sent.
func (w *workspaceFS) stat(ctx context.Context, rel string, d fs.DirEntry) (*fstypes.Stat, error) {
	st := &fstypes.Stat{Path: filepath.FromSlash(rel), ModTime: syncEpoch}
	switch {
	case d.Type()&fs.ModeSymlink != 0:
		target, err := w.root.Readlink(rel)
		if err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		st.Mode, st.Linkname = uint32(fs.ModeSymlink|0o777), target
	case d.IsDir():
		info, err := w.root.Lstat(rel)
		if err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("build context: %s changed while it was read", rel)
		}
		st.Mode = uint32(fs.ModeDir | info.Mode().Perm())
	case d.Type().IsRegular():
		f, info, err := w.openRegular(rel)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		h := sha256.New()
		// In pieces, so that a cancelled build stops reading a huge file.
		for left := info.Size(); left > 0; left -= hashPiece {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if _, err := io.CopyN(h, f, min(left, hashPiece)); err != nil {
				return nil, fmt.Errorf("build context: %s changed while it was read: %w", rel, err)
			}
		}
		sum := h.Sum(nil)
		st.Mode, st.Size = uint32(info.Mode().Perm()), info.Size()
		st.ModTime = syncEpoch + int64(binary.BigEndian.Uint64(sum)%uint64(time.Second))
	default:
		return nil, nil
	}
	return st, nil
}

// openRegular opens rel beneath the root without following a link, and
// only if it is a regular file.
func (w *workspaceFS) openRegular(rel string) (*os.File, fs.FileInfo, error) {
	f, err := w.root.OpenFile(rel, os.O_RDONLY|oNoFollow|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("build context: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("build context: %w", err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("build context: %s is not a regular file", rel)
	}
	return f, info, nil
}

func (w *workspaceFS) Open(p string) (io.ReadCloser, error) {
	rel := path.Clean(filepath.ToSlash(p))
	if !fs.ValidPath(rel) || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("build context: %q is not a path inside the context", p)
	}
	f, _, err := w.openRegular(rel)
	if err != nil {
		return nil, err
	}
	return f, nil
}
