package build

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jetway-dev/jetway/internal/bundle"
)

// Context tars dir for the builder, honouring .dockerignore (the Dockerfile
// and .dockerignore are always sent, as the docker CLI does).
//
// dir is a run's workspace, which the run's processes may still be
// changing (a process left behind by pre_build can swap a directory for a
// link to the server's data dir while the tar is written), and the caller
// is root. So every file is opened beneath dir through an os.Root without
// following links, and an entry is archived as what the opened file is,
// not as what a listing said it was. This is why the context is not made
// with moby's archive package, which follows the tree by path.
//
// Every entry is owned by root, as the docker CLI sends it: the builder's
// cache keys include ownership, and each run's files belong to a different
// run user.
func Context(dir, dockerfile string) (io.ReadCloser, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	patterns, err := bundle.ReadIgnoreIn(root, ".dockerignore")
	if err != nil {
		root.Close()
		return nil, err
	}
	if len(patterns) > 0 {
		patterns = append(patterns, "!"+filepath.ToSlash(dockerfile), "!.dockerignore")
	}
	pr, pw := io.Pipe()
	go func() {
		defer root.Close()
		tw := tar.NewWriter(pw)
		err := bundle.Walk(bundle.RootFS(root), patterns, func(rel string, d fs.DirEntry) error {
			return addEntry(tw, root, rel, d)
		})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

func addEntry(tw *tar.Writer, root *os.Root, rel string, d fs.DirEntry) error {
	switch {
	case d.Type()&fs.ModeSymlink != 0:
		target, err := root.Readlink(rel)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		return writeHeader(tw, rel, &tar.Header{Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
	case d.IsDir():
		info, err := root.Lstat(rel)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		if !info.IsDir() {
			return fmt.Errorf("build context: %s changed while it was packed", rel)
		}
		return writeHeader(tw, rel+"/", &tar.Header{Typeflag: tar.TypeDir, Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()})
	case d.Type().IsRegular():
		f, err := root.OpenFile(rel, os.O_RDONLY|oNoFollow|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("build context: %s changed while it was packed", rel)
		}
		if err := writeHeader(tw, rel, &tar.Header{Typeflag: tar.TypeReg, Mode: int64(info.Mode().Perm()), Size: info.Size(), ModTime: info.ModTime()}); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, f, info.Size()); err != nil {
			return fmt.Errorf("build context: %s changed while it was packed: %w", rel, err)
		}
		return nil
	default:
		return nil // sockets, devices and pipes are not sent, as docker does not
	}
}

func writeHeader(tw *tar.Writer, name string, h *tar.Header) error {
	h.Name = name
	h.ModTime = h.ModTime.Truncate(time.Second)
	h.Format = tar.FormatPAX
	return tw.WriteHeader(h)
}
