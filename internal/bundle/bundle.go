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

// Scan lists the files of dir that a run sees (see Source), with their
// content hashes, sorted by path: a bundle's manifest. paths maps each hash
// to a file holding that content.
func Scan(dir string) (m api.Manifest, paths map[string]string, err error) {
	paths = map[string]string{}
	err = walkSource(dir, func(rel, p string, info fs.FileInfo) error {
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

// MaxBlobSize bounds the content of a blob uploaded without a declared
// size.
const MaxBlobSize = 2 << 30

// Put stores zstd-compressed content that must hash to hash; it returns
// the number of compressed bytes read. size is the content's size as the
// manifest will declare it, or -1 if unknown (then MaxBlobSize): more is
// refused as soon as it is decompressed, so a small upload that inflates
// (a zstd bomb) costs at most size+1 bytes of disk before the refusal.
func (b Blobs) Put(hash string, size int64, compressed io.Reader) (int64, error) {
	if !validHash(hash) {
		return 0, fmt.Errorf("%q is not a sha256 hash", hash)
	}
	if size < 0 {
		size = MaxBlobSize
	}
	counted := &countingReader{r: compressed}
	dec, err := zstd.NewReader(counted, zstd.WithDecoderConcurrency(1))
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
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(dec, size+1))
	if err != nil {
		tmp.Close()
		return counted.n, fmt.Errorf("reading the upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return counted.n, err
	}
	if n > size {
		return counted.n, fmt.Errorf("the upload decompresses to more than its declared %d bytes", size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return counted.n, fmt.Errorf("the upload hashes to %s, not %s", got, hash)
	}
	return counted.n, os.Rename(tmp.Name(), b.path(hash))
}

// Size returns the size of a stored blob.
func (b Blobs) Size(hash string) (int64, error) {
	if !validHash(hash) {
		return 0, fmt.Errorf("%q is not a sha256 hash", hash)
	}
	info, err := os.Stat(b.path(hash))
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
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

// PAX records of the bundle stream. Only WriteTar writes headers, so no
// file of a bundle can forge them.
const (
	paxHash  = "JETWAY.sha256" // a regular file's content hash
	paxError = "JETWAY.error"  // in a global header: the stream stops here, and why
	paxEnd   = "JETWAY.end"    // in a global header: the stream is complete
)

// WriteTar writes the bundle as a deterministic tar (sorted, zero times and
// owners), zstd-compressed. Each file's content is checked against its hash
// as it is read. Once the answer has begun there is no status code left
// to fail with, so on a missing or damaged blob WriteTar ends the stream
// with the reason, for Extract to fail with, and returns it too; a stream
// that ends without saying it is complete fails Extract as well.
func (b Blobs) WriteTar(w io.Writer, m api.Manifest) error {
	enc, err := zstd.NewWriter(w)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(enc)
	end := func(record string, value string) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{record: value}}); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return enc.Close()
	}
	for _, f := range m.Files {
		if err := b.writeEntry(tw, f); err != nil {
			var be *blobError
			if errors.As(err, &be) {
				return errors.Join(err, end(paxError, err.Error()))
			}
			return err
		}
	}
	return end(paxEnd, fmt.Sprint(len(m.Files)))
}

// blobError is a blob that is missing or does not match its hash.
type blobError struct {
	path, hash, problem string
	err                 error
}

func (e *blobError) Error() string {
	return fmt.Sprintf("%s: blob %s… %s", e.path, e.hash[:min(12, len(e.hash))], e.problem)
}

func (e *blobError) Unwrap() error { return e.err }

// writeEntry writes one file. A regular file's entry is always complete,
// padded if its blob is short, so the stream can go on to say what went
// wrong.
func (b Blobs) writeEntry(tw *tar.Writer, f api.File) error {
	h := &tar.Header{Name: f.Path, Mode: int64(f.Mode & 0o7777), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	switch {
	case f.Mode&dirMode != 0:
		h.Typeflag, h.Name = tar.TypeDir, f.Path+"/"
		return tw.WriteHeader(h)
	case f.Link != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		return tw.WriteHeader(h)
	}
	h.Typeflag, h.Size = tar.TypeReg, f.Size
	h.PAXRecords = map[string]string{paxHash: f.SHA256}
	if !validHash(f.SHA256) {
		return &blobError{path: f.Path, hash: f.SHA256, problem: "is not a sha256 hash"}
	}
	src, err := os.Open(b.path(f.SHA256))
	if errors.Is(err, fs.ErrNotExist) {
		return &blobError{path: f.Path, hash: f.SHA256, problem: "is missing on the server", err: err}
	}
	if err != nil {
		return &blobError{path: f.Path, hash: f.SHA256, problem: "cannot be read: " + err.Error(), err: err}
	}
	defer src.Close()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	sum := sha256.New()
	blob := &readErr{r: io.LimitReader(src, f.Size)}
	n, err := io.Copy(io.MultiWriter(tw, sum), blob)
	if err != nil && blob.err == nil {
		return err // the stream, not the blob: the reader has gone
	}
	if n < f.Size { // keep the entry whole
		if _, err := io.CopyN(tw, zeros{}, f.Size-n); err != nil {
			return err
		}
	}
	if blob.err != nil {
		return &blobError{path: f.Path, hash: f.SHA256, problem: "cannot be read: " + blob.err.Error(), err: blob.err}
	}
	if hex.EncodeToString(sum.Sum(nil)) != f.SHA256 {
		return &blobError{path: f.Path, hash: f.SHA256, problem: "content does not match its hash"}
	}
	return nil
}

// readErr keeps the error of a reader, to tell it from its writer's.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Extract unpacks a bundle tar.zst as WriteTar writes it into dst,
// refusing paths that would leave it, checking each file against its hash
// as it is written, and failing with the reason when the stream stops
// early. Its errors name the file they are about.
func Extract(r io.Reader, dst string) error {
	if err := extract(r, dst); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

func extract(r io.Reader, dst string) error {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	// Links are made last, so no entry can be written through one.
	var links [][2]string
	name := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("the stream ended early: the server stopped sending")
		}
		if err != nil {
			if name != "" {
				return fmt.Errorf("after %s: %w", name, err)
			}
			return err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			if msg, ok := h.PAXRecords[paxError]; ok {
				return errors.New(msg)
			}
			if _, ok := h.PAXRecords[paxEnd]; ok {
				break
			}
			continue
		}
		name = path.Clean(h.Name)
		if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) {
			return fmt.Errorf("entry %q leaves the directory", h.Name)
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
			if err := extractFile(tr, h, target); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	for _, l := range links {
		if err := os.Symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	return nil
}

func extractFile(tr *tar.Reader, h *tar.Header, target string) error {
	want := h.PAXRecords[paxHash]
	if want == "" {
		return errors.New("the stream gives no content hash")
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode))
	if err != nil {
		return err
	}
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, sum), tr); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if hex.EncodeToString(sum.Sum(nil)) != want {
		return errors.New("content does not match its hash")
	}
	return nil
}
