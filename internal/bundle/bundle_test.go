package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/api"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestScanUploadAndExtract(t *testing.T) {
	src := t.TempDir()
	write(t, src, map[string]string{
		".jetwayignore":  "secret.txt\nlogs/\n!logs/keep.log\n",
		"app/main.go":    "package main\n",
		"app/same.txt":   "same\n",
		"other/same.txt": "same\n",
		"secret.txt":     "never uploaded\n",
		"logs/debug.log": "no\n",
		"logs/keep.log":  "yes\n",
		"bin/run.sh":     "#!/bin/sh\n",
	})
	if err := os.Chmod(filepath.Join(src, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app/main.go", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	m, paths, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Path)
	}
	got := strings.Join(names, " ")
	if strings.Contains(got, "secret.txt") || strings.Contains(got, "debug.log") || !strings.Contains(got, "logs/keep.log") {
		t.Fatalf("ignore rules not applied: %s", got)
	}
	if len(Hashes(m)) != len(paths) || len(paths) != 5 { // same.txt twice is one blob
		t.Fatalf("%d hashes, %d paths", len(Hashes(m)), len(paths))
	}
	m2, _, _ := Scan(src)
	if ID(m) != ID(m2) {
		t.Fatal("the bundle id is not deterministic")
	}
	if err := Validate(m); err != nil {
		t.Fatal(err)
	}

	blobs := storeBlobs(t, m, paths)
	var tarball bytes.Buffer
	if err := blobs.WriteTar(&tarball, m); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	_ = blobs.WriteTar(&again, m)
	if !bytes.Equal(tarball.Bytes(), again.Bytes()) {
		t.Fatal("the tar is not deterministic")
	}
	dst := t.TempDir()
	if err := Extract(&tarball, dst); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dst, "logs/keep.log")); string(data) != "yes\n" {
		t.Fatalf("keep.log = %q", data)
	}
	if info, err := os.Stat(filepath.Join(dst, "bin/run.sh")); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("mode lost: %v %v", info.Mode(), err)
	}
	if link, _ := os.Readlink(filepath.Join(dst, "link")); link != "app/main.go" {
		t.Fatalf("link = %q", link)
	}
}

func TestPutRejectsWrongContent(t *testing.T) {
	blobs := Blobs{Dir: t.TempDir()}
	var buf bytes.Buffer
	enc, _ := zstd.NewWriter(&buf)
	enc.Write([]byte("hello"))
	enc.Close()
	if _, err := blobs.Put(strings.Repeat("ab", 32), -1, &buf); err == nil {
		t.Fatal("a blob that does not hash to its name was stored")
	}
	if _, err := blobs.Put("../../etc/passwd", -1, &buf); err == nil {
		t.Fatal("a bad hash was accepted")
	}
}

func tarOf(t *testing.T, entries []tar.Header, content string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	enc, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(enc)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(content))
			sum := sha256.Sum256([]byte(content))
			h.PAXRecords = map[string]string{paxHash: hex.EncodeToString(sum[:])}
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(content))
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{paxEnd: "1"}}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	enc.Close()
	return &buf
}

func TestExtractStaysInside(t *testing.T) {
	outside := t.TempDir()
	tests := map[string][]tar.Header{
		"dot-dot":  {{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute": {{Name: "/tmp/escape", Typeflag: tar.TypeReg, Mode: 0o644}},
	}
	for name, entries := range tests {
		if err := Extract(tarOf(t, entries, "x"), t.TempDir()); err == nil {
			t.Errorf("%s: extracted", name)
		}
	}
	// A link to outside followed by a file "through" it must not write there.
	dst := t.TempDir()
	err := Extract(tarOf(t, []tar.Header{
		{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: outside},
		{Name: "evil/planted", Typeflag: tar.TypeReg, Mode: 0o644},
	}, "x"), dst)
	if _, statErr := os.Stat(filepath.Join(outside, "planted")); statErr == nil {
		t.Fatalf("a file was written through a link (err %v)", err)
	}
}

// storeBlobs uploads a scanned manifest's contents into a new blob store.
func storeBlobs(t *testing.T, m api.Manifest, paths map[string]string) Blobs {
	t.Helper()
	blobs := Blobs{Dir: t.TempDir()}
	sizes := map[string]int64{}
	for _, f := range m.Files {
		sizes[f.SHA256] = f.Size
	}
	for hash, p := range paths {
		var buf bytes.Buffer
		if err := Compress(&buf, p); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Put(hash, sizes[hash], &buf); err != nil {
			t.Fatal(err)
		}
		if !blobs.Has(hash) {
			t.Fatal("blob not stored")
		}
	}
	return blobs
}

// TestBrokenBlobsFailTheBundle: a blob that is missing, altered, short or
// unreadable on the server ends the stream with a reason that names the
// file, and Extract fails with it instead of leaving a partial workspace.
func TestBrokenBlobsFailTheBundle(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(blob string) error
		want  string
	}{
		{"missing", os.Remove, "bundle: src/app.rb: blob %s… is missing on the server"},
		{"altered", func(p string) error { return os.WriteFile(p, []byte("puts 'HI'\n"), 0o600) }, "bundle: src/app.rb: content does not match its hash"},
		{"short", func(p string) error { return os.Truncate(p, 3) }, "bundle: src/app.rb: content does not match its hash"},
		{"a directory", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}, "bundle: src/app.rb: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			write(t, src, map[string]string{"README": "read me\n", "src/app.rb": "puts 'hi'\n", "zzz": "after\n"})
			m, paths, err := Scan(src)
			if err != nil {
				t.Fatal(err)
			}
			blobs := storeBlobs(t, m, paths)
			var app api.File
			for _, f := range m.Files {
				if f.Path == "src/app.rb" {
					app = f
				}
			}
			if err := tt.spoil(blobs.path(app.SHA256)); err != nil {
				t.Fatal(err)
			}
			var stream bytes.Buffer
			werr := blobs.WriteTar(&stream, m)
			if werr == nil || !strings.Contains(werr.Error(), "src/app.rb") {
				t.Errorf("WriteTar: %v", werr)
			}
			dst := t.TempDir()
			err = Extract(&stream, dst)
			want := strings.ReplaceAll(tt.want, "%s", app.SHA256[:12])
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Extract: %v\nwant: %s", err, want)
			}
			if _, err := os.Stat(filepath.Join(dst, "zzz")); err == nil {
				t.Error("files after the broken one were extracted")
			}
		})
	}
}

// TestExtractNeedsAWholeStream: a bundle stream cut anywhere fails
// Extract; none passes for a complete bundle with fewer files.
func TestExtractNeedsAWholeStream(t *testing.T) {
	src := t.TempDir()
	write(t, src, map[string]string{"a": "first\n", "b/c": strings.Repeat("second\n", 1000)})
	m, paths, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	if err := storeBlobs(t, m, paths).WriteTar(&stream, m); err != nil {
		t.Fatal(err)
	}
	whole := stream.Bytes()
	if err := Extract(bytes.NewReader(whole), t.TempDir()); err != nil {
		t.Fatalf("the whole stream: %v", err)
	}
	for n := 0; n < len(whole); n++ {
		if err := Extract(bytes.NewReader(whole[:n]), t.TempDir()); err == nil {
			t.Fatalf("a stream cut after %d of %d bytes was extracted without an error", n, len(whole))
		}
	}
}

// TestExtractChecksHashes: a file whose content does not match the hash
// the stream gives for it fails, named.
func TestExtractChecksHashes(t *testing.T) {
	var buf bytes.Buffer
	enc, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(enc)
	_ = tw.WriteHeader(&tar.Header{Name: "app.rb", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5, PAXRecords: map[string]string{paxHash: strings.Repeat("0", 64)}})
	_, _ = tw.Write([]byte("hello"))
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{paxEnd: "1"}})
	tw.Close()
	enc.Close()
	err := Extract(&buf, t.TempDir())
	if err == nil || err.Error() != "bundle: app.rb: content does not match its hash" {
		t.Fatalf("Extract: %v", err)
	}
}

// TestPutBoundsDecompression: a small upload that inflates far beyond its
// declared size (a zstd bomb) is refused once it passes that size, and
// content of exactly the declared size is stored.
func TestPutBoundsDecompression(t *testing.T) {
	var bomb bytes.Buffer
	enc, _ := zstd.NewWriter(&bomb, zstd.WithEncoderLevel(zstd.SpeedFastest))
	zero := make([]byte, 1<<20)
	for range 256 {
		_, _ = enc.Write(zero)
	}
	enc.Close()
	if bomb.Len() > 64<<10 {
		t.Fatalf("the bomb is %d bytes compressed", bomb.Len())
	}
	sum := sha256.Sum256(zero[:1000])
	hash := hex.EncodeToString(sum[:])
	blobs := Blobs{Dir: t.TempDir()}
	read, err := blobs.Put(hash, 1000, bytes.NewReader(bomb.Bytes()))
	if err == nil || !strings.Contains(err.Error(), "more than its declared 1000 bytes") {
		t.Fatalf("Put of a bomb: %v", err)
	}
	// Decompression stopped early: inflating all 256 MiB would have read
	// the whole upload.
	if read >= int64(bomb.Len()/2) {
		t.Errorf("Put read %d of the bomb's %d bytes before refusing it", read, bomb.Len())
	}
	if blobs.Has(hash) {
		t.Fatal("the bomb was stored")
	}
	var exact bytes.Buffer
	enc, _ = zstd.NewWriter(&exact)
	_, _ = enc.Write(zero[:1000])
	enc.Close()
	if _, err := blobs.Put(hash, 1000, &exact); err != nil || !blobs.Has(hash) {
		t.Fatalf("content of the declared size: %v", err)
	}
	if size, err := blobs.Size(hash); err != nil || size != 1000 {
		t.Fatalf("Size = %d, %v", size, err)
	}
}
