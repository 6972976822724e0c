package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/sandbox"
)

// deepTree makes dir/a/a/…/a, depth levels deep, with a file at the
// bottom, as a phase can with `mkdir a; cd a` in a loop (no path is ever
// longer than "a", so PATH_MAX is no bound).
func deepTree(t testing.TB, dir string, depth int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range depth {
		if err := unix.Mkdirat(fd, "a", 0o755); err != nil {
			t.Fatal(err)
		}
		nfd, err := unix.Openat(fd, "a", unix.O_DIRECTORY|unix.O_RDONLY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = nfd
	}
	f, err := unix.Openat(fd, "f", unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(f)
	unix.Close(fd)
}

// The attack: a phase makes a directory tree thousands of levels deep
// under a directory artifacts: keeps (a few seconds of mkdir; cd). os.Root
// opens a path a component at a time, so listing level d costs d opens:
// searched all the way down, depth 4,000 took the root runner 24 s, and
// the bound of entries allowed hours. The search stops at
// maxArtifactDepth, saying so, whatever the depth.
func TestArtifactSearchStopsAtItsDepth(t *testing.T) {
	ws := t.TempDir()
	deepTree(t, ws, 3000)
	root, err := os.OpenRoot(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var refused []string
	m := &artifactMatcher{ctx: context.Background(), root: root, seen: map[string]bool{}, refuse: func(msg string) { refused = append(refused, msg) }}
	m.match("a/")
	if len(m.files) != 0 || m.visits > maxArtifactDepth+1 {
		t.Fatalf("the search went %d entries down and kept %d files", m.visits, len(m.files))
	}
	if len(refused) != 1 || !strings.Contains(refused[0], "directories deep; not searched") {
		t.Fatalf("refusals: %q", refused)
	}
	// A tree within the bound is searched whole.
	shallow := t.TempDir()
	deepTree(t, shallow, maxArtifactDepth-2)
	root2, err := os.OpenRoot(shallow)
	if err != nil {
		t.Fatal(err)
	}
	defer root2.Close()
	m = &artifactMatcher{ctx: context.Background(), root: root2, seen: map[string]bool{}, refuse: func(msg string) { t.Errorf("refused: %s", msg) }}
	m.match("a/")
	if len(m.files) != 1 {
		t.Fatalf("a tree %d deep: %d files kept, want the one at the bottom", maxArtifactDepth-2, len(m.files))
	}
}

// The attack: a phase leaves a workspace of many entries for artifacts:
// to look at, and the run is cancelled (jetway stop) or its time is over
// (keepArtifacts gives a timed-out run artifactTimeout more, and no more).
// The matcher must stop looking when its context ends; it has no context.
func TestArtifactMatchingStopsWithTheRun(t *testing.T) {
	ws := t.TempDir()
	const dirs = 3000
	for i := range dirs {
		d := filepath.Join(ws, "out", fmt.Sprintf("d%04d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/etc/passwd", filepath.Join(d, "link")); err != nil {
			t.Fatal(err)
		}
	}
	sink := &chainSink{}
	r := &run{
		opts:    Options{Sink: sink, Project: &config.Project{Artifacts: []string{"out/"}}},
		sb:      &runSandbox{Sandbox: &sandbox.Sandbox{Workspace: ws}},
		summary: &Summary{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.collectArtifacts(ctx, r.opts.Project.Artifacts)
	looked := 0
	for _, e := range sink.events {
		if strings.Contains(e.Message, "is a symbolic link") {
			looked++
		}
	}
	if err == nil || looked > dirs/10 {
		t.Errorf("with its context over, collecting artifacts returned %v after looking at %d of the %d directories: the matcher never checks the context", err, looked, dirs)
	}
}
