package bundle

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
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

	blobs := Blobs{Dir: t.TempDir()}
	for hash, p := range paths {
		var buf bytes.Buffer
		if err := Compress(&buf, p); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Put(hash, &buf); err != nil {
			t.Fatal(err)
		}
		if !blobs.Has(hash) {
			t.Fatal("blob not stored")
		}
	}
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
	if _, err := blobs.Put(strings.Repeat("ab", 32), &buf); err == nil {
		t.Fatal("a blob that does not hash to its name was stored")
	}
	if _, err := blobs.Put("../../etc/passwd", &buf); err == nil {
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
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(content))
		}
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
