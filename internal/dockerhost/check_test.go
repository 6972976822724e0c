package dockerhost

import (
	"path/filepath"
	"testing"
	"time"
)

func TestDiskSample(t *testing.T) {
	file := filepath.Join(t.TempDir(), "df.json")
	s := DiskSample{File: file, MaxAge: time.Minute}
	if _, ok := s.load("ssh://a"); ok {
		t.Fatal("a sample before any scan")
	}
	s.store(diskFigures{At: time.Now(), Host: "ssh://a", Images: 3, BuildCache: 42})
	for _, tc := range []struct {
		name string
		s    DiskSample
		host string
		ok   bool
	}{
		{"fresh, same host", s, "ssh://a", true},
		{"another host", s, "ssh://b", false},
		{"older than MaxAge", DiskSample{File: file, MaxAge: time.Nanosecond}, "ssh://a", false},
		{"no MaxAge: always scan", DiskSample{File: file}, "ssh://a", false},
		{"no file", DiskSample{MaxAge: time.Minute}, "ssh://a", false},
	} {
		f, ok := tc.s.load(tc.host)
		if ok != tc.ok || ok && (f.Images != 3 || f.BuildCache != 42) {
			t.Errorf("%s: got %+v, %v", tc.name, f, ok)
		}
	}
	s.store(diskFigures{At: time.Now().Add(time.Hour), Host: "ssh://a"})
	if _, ok := s.load("ssh://a"); ok {
		t.Error("a sample from the future was used")
	}
}
