package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/api"
)

// dirMode marks directories in a manifest's Mode.
const dirMode = 0o40000

// Scan lists the files of dir that .jetwayignore does not exclude, with
// their content hashes, sorted by path: a bundle's manifest. paths maps each
// hash to a file holding that content.
func Scan(dir string) (m api.Manifest, paths map[string]string, err error) {
	patterns, err := ReadIgnore(dir, IgnoreFile)
	if err != nil {
		return m, nil, err
	}
	paths = map[string]string{}
	err = walk(dir, patterns, func(rel, p string, info fs.FileInfo) error {
		f := api.File{Path: rel, Mode: uint32(info.Mode().Perm())}
		switch {
		case info.IsDir():
			f.Mode |= dirMode
		case info.Mode()&fs.ModeSymlink != 0:
			if f.Link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			sum, err := hashFile(p)
			if err != nil {
				return err
			}
			f.SHA256, f.Size = sum, info.Size()
			paths[sum] = p
		default:
			return nil
		}
		m.Files = append(m.Files, f)
		return nil
	})
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return m, paths, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ID is a manifest's content address.
func ID(m api.Manifest) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Hashes lists the distinct content hashes a manifest needs.
func Hashes(m api.Manifest) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range m.Files {
		if f.SHA256 != "" && !seen[f.SHA256] {
			seen[f.SHA256] = true
			out = append(out, f.SHA256)
		}
	}
	return out
}

// Validate rejects manifests whose paths could escape a directory.
func Validate(m api.Manifest) error {
	for _, f := range m.Files {
		clean := path.Clean(f.Path)
		if f.Path == "" || clean != f.Path || strings.HasPrefix(clean, "../") || clean == ".." || path.IsAbs(clean) {
			return fmt.Errorf("bundle path %q is not a clean relative path", f.Path)
		}
		if f.Mode&dirMode == 0 && f.Link == "" && len(f.SHA256) != 64 {
			return fmt.Errorf("bundle file %q has no content hash", f.Path)
		}
	}
	return nil
}

// Blobs is a content-addressed file store: DIR/ab/abcdef….
type Blobs struct{ Dir string }

func (b Blobs) path(hash string) string { return filepath.Join(b.Dir, hash[:2], hash) }

func validHash(hash string) bool {
	if len(hash) != 64 {
		return false
	}
	_, err := hex.DecodeString(hash)
	return err == nil
}

// Has tells whether the store holds hash.
func (b Blobs) Has(hash string) bool {
	if !validHash(hash) {
		return false
	}
	_, err := os.Stat(b.path(hash))
	return err == nil
}

// Put stores zstd-compressed content that must hash to hash; it returns
// the number of compressed bytes read.
func (b Blobs) Put(hash string, compressed io.Reader) (int64, error) {
	if !validHash(hash) {
		return 0, fmt.Errorf("%q is not a sha256 hash", hash)
	}
	counted := &countingReader{r: compressed}
	dec, err := zstd.NewReader(counted)
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	if err := os.MkdirAll(filepath.Dir(b.path(hash)), 0o700); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.path(hash)), ".upload-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), dec); err != nil {
		tmp.Close()
		return counted.n, fmt.Errorf("reading the upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return counted.n, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return counted.n, fmt.Errorf("the upload hashes to %s, not %s", got, hash)
	}
	return counted.n, os.Rename(tmp.Name(), b.path(hash))
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Compress zstd-compresses a file for upload.
func Compress(w io.Writer, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	enc, err := zstd.NewWriter(w)
	if err != nil {
		return err
	}
	if _, err := io.Copy(enc, f); err != nil {
		enc.Close()
		return err
	}
	return enc.Close()
}

// WriteTar writes the bundle as a deterministic tar (sorted, zero times and
// owners), zstd-compressed.
func (b Blobs) WriteTar(w io.Writer, m api.Manifest) error {
	enc, err := zstd.NewWriter(w)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(enc)
	epoch := time.Unix(0, 0)
	for _, f := range m.Files {
		h := &tar.Header{Name: f.Path, Mode: int64(f.Mode & 0o7777), ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.Mode&dirMode != 0:
			h.Typeflag, h.Name = tar.TypeDir, f.Path+"/"
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, f.Size
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			src, err := os.Open(b.path(f.SHA256))
			if err != nil {
				return fmt.Errorf("bundle content of %s: %w", f.Path, err)
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return enc.Close()
}

// Extract unpacks a bundle tar.zst into dst, refusing paths that would
// leave it.
func Extract(r io.Reader, dst string) error {
	dec, err := zstd.NewReader(r)
	if err != nil {
		return err
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	// Links are made last, so no entry can be written through one.
	var links [][2]string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			for _, l := range links {
				if err := os.Symlink(l[0], l[1]); err != nil {
					return err
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) {
			return fmt.Errorf("bundle entry %q leaves the directory", h.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, os.FileMode(h.Mode)|0o700); err != nil {
				return err
			}
		case tar.TypeSymlink:
			links = append(links, [2]string{h.Linkname, target})
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode))
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}
