package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/jetway-dev/jetway/internal/testbed"
)

var bed testbed.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	bed.Close()
	os.Exit(code)
}

// remoteClient is a client of the bed's bridged remote daemon (in the
// remote host's network namespace, with a bridge BuildKit's RUN steps can
// use).
func remoteClient(t *testing.T) *client.Client {
	t.Helper()
	b := bed.Get(t)
	socket, err := b.BridgedDocker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := testbed.LocalClient(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// A warm build after a one-file change in a 100 MB context sends only that
// file: the second build puts less than 1 MB on the session stream.
func TestBuildKitSendsOnlyChangedFiles(t *testing.T) {
	c := remoteClient(t)
	ctx := context.Background()
	ws := t.TempDir()
	big := make([]byte, 100<<20)
	_, _ = rand.Read(big)
	must(t, os.WriteFile(filepath.Join(ws, "big.bin"), big, 0o644))
	writeTree(t, ws, map[string]string{
		"Dockerfile":    fmt.Sprintf("FROM %s\nCOPY . /ctx\nRUN cat /ctx/app.txt && test -e /ctx/big.bin && test ! -e /ctx/ignored.txt\n", testbed.BaseImage),
		"app.txt":       "one\n",
		"ignored.txt":   "ignored\n",
		".dockerignore": "ignored.txt\n",
	})
	key := "jetway-test-" + filepath.Base(ws)
	build := func() (int64, string) {
		var sent atomic.Int64
		var log bytes.Buffer
		res, err := BuildKit(ctx, c, Options{ContextDir: ws, Dockerfile: "Dockerfile", Tags: []string{"jetway-test/incremental:latest"}, SharedKey: key, SessionBytes: &sent}, &log, nil)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, log.String())
		}
		if res.ImageID == "" || len(res.Steps) != 3 {
			t.Fatalf("result %+v\n%s", res, log.String())
		}
		return sent.Load(), log.String()
	}
	first, log1 := build()
	if first < 100<<20 {
		t.Fatalf("the first build sent %d bytes, less than the context:\n%s", first, log1)
	}
	// Every run copies the workspace afresh: new times, same content.
	must(t, os.Chtimes(filepath.Join(ws, "big.bin"), timeNow(), timeNow()))
	must(t, os.WriteFile(filepath.Join(ws, "app.txt"), []byte("two\n"), 0o644))
	second, log2 := build()
	if second >= 1<<20 {
		t.Fatalf("the second build sent %d bytes; want < 1 MB:\n%s", second, log2)
	}
	if !strings.Contains(log2, "two") {
		t.Fatalf("the second build did not see the change:\n%s", log2)
	}
}

// A Dockerfile syntax error is reported with its line.
func TestBuildKitSyntaxErrorNamesTheLine(t *testing.T) {
	c := remoteClient(t)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN true\nRUNN echo no\n", testbed.BaseImage)})
	var log bytes.Buffer
	_, err := BuildKit(context.Background(), c, Options{ContextDir: ws, Dockerfile: "Dockerfile", SharedKey: "jetway-test-syntax"}, &log, nil)
	var be *Error
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("error %v, want a build error naming line 3\n%s", err, log.String())
	}
}

func timeNow() time.Time { return time.Now() }

// A daemon whose RUN steps BuildKit cannot run (no default bridge, as the
// bed's other daemons) is refused with ErrNoBuildKit, for the classic
// fallback.
func TestBuildKitRefusesADaemonWithoutBridge(t *testing.T) {
	b := bed.Get(t)
	c, err := testbed.LocalClient(b.RemoteSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN true\n", testbed.BaseImage)})
	var log bytes.Buffer
	_, err = BuildKit(context.Background(), c, Options{ContextDir: ws, Dockerfile: "Dockerfile"}, &log, nil)
	if !errors.Is(err, ErrNoBuildKit) || !strings.Contains(err.Error(), "bridge") {
		t.Fatalf("error %v, want ErrNoBuildKit naming the bridge", err)
	}
}

// A client speaking an Engine API older than /session outside
// experimental mode gets ErrNoBuildKit before anything is sent.
func TestBuildKitRefusesAnOldAPI(t *testing.T) {
	b := bed.Get(t)
	socket, err := b.BridgedDocker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewClientWithOpts(client.WithHost("unix://"+socket), client.WithVersion("1.38"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = BuildKit(context.Background(), c, Options{ContextDir: t.TempDir(), Dockerfile: "Dockerfile"}, io.Discard, nil)
	if !errors.Is(err, ErrNoBuildKit) {
		t.Fatalf("error %v, want ErrNoBuildKit", err)
	}
}
