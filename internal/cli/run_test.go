//go:build linux

package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/testbed"
)

func buildJetway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jetway")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/jetway").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestRunCommand(t *testing.T) {
	b := bed.Get(t)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "jetway.yaml"), []byte(`project: local
env:
  vars:
    DOCKER_HOST: unix://`+b.LocalSocket+`
    GREETING: hello
phases:
  build: ["echo $GREETING from $(id -un)", "docker version --format '{{.Server.Version}}'"]
`), 0o644))

	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "run", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var sawHello, sawSummary bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e struct {
			Type, Message string
			Summary       *struct{ Status string }
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON event: %q", sc.Text())
		}
		sawHello = sawHello || strings.HasPrefix(e.Message, "hello from jwrun-")
		sawSummary = sawSummary || (e.Type == "summary" && e.Summary.Status == "succeeded")
	}
	if !sawHello || !sawSummary {
		t.Fatalf("events lack the phase output or the summary:\n%s", out)
	}

	code, _, errOut = runJetway(t, map[string]string{"HOME": t.TempDir()}, "run", t.TempDir())
	if code != ExitUsage || !strings.Contains(errOut, "jetway init") {
		t.Fatalf("no project file: exit %d, %s", code, errOut)
	}
}

// TestRunDockerAllowances: jetway run is strict by default and relaxes
// the guard for this run only with --docker.
func TestRunDockerAllowances(t *testing.T) {
	b := bed.Get(t)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "jetway.yaml"), []byte(`project: local
env:
  vars:
    DOCKER_HOST: unix://`+b.LocalSocket+`
phases:
  build: ["docker create -v /etc:/host `+testbed.BaseImage+` true >/dev/null && echo bind allowed"]
`), 0o644))
	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "run", dir)
	if code != 1 || !strings.Contains(out, "rule host-mounts") {
		t.Fatalf("strict default: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runJetway(t, map[string]string{"HOME": t.TempDir()}, "run", dir, "--docker", "host-mounts")
	if code != 0 || !strings.Contains(out, "bind allowed") || !strings.Contains(out, "docker policy allows host-mounts") {
		t.Fatalf("--docker host-mounts: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runJetway(t, map[string]string{"HOME": t.TempDir()}, "run", dir, "--docker", "everything")
	if code != ExitUsage || !strings.Contains(errOut, "privileged") {
		t.Fatalf("an unknown allowance: exit %d, %s", code, errOut)
	}
}

// TestRunInterrupted sends SIGINT to `jetway run` mid-phase, as Ctrl-C does.
func TestRunInterrupted(t *testing.T) {
	b := bed.Get(t)
	bin := buildJetway(t)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "jetway.yaml"), []byte(`project: interrupted
env:
  vars:
    DOCKER_HOST: unix://`+b.LocalSocket+`
phases:
  build: ["echo started; sleep 300"]
  post_build: ["echo post_build ran"]
`), 0o644))
	cmd := exec.Command(bin, "run", dir)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	// exec copies the child's output into out from its own goroutine while
	// the test polls it.
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "started") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("jetway run did not stop after SIGINT:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitCancelled {
		t.Fatalf("exit %d, want %d\n%s", code, ExitCancelled, out.String())
	}
	if !strings.Contains(out.String(), "cancelled") || strings.Contains(out.String(), "post_build ran") {
		t.Fatalf("output:\n%s", out.String())
	}
	id := regexp.MustCompile(`run ([0-9a-f]{8}) cancelled`).FindStringSubmatch(out.String())
	if id == nil {
		t.Fatalf("no run id in the output:\n%s", out.String())
	}
	if matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "jetway-run-"+id[1]+"-*")); len(matches) > 0 {
		t.Errorf("sandbox left: %v", matches)
	}
}

// syncBuffer is a bytes.Buffer that one goroutine may write while another
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A phase's terminal escapes (clipboard write, title, screen clear) do not
// reach the terminal of `jetway run`; colours do, and --raw keeps all.
func TestRunKeepsOnlyColours(t *testing.T) {
	b := bed.Get(t)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "jetway.yaml"), []byte(`project: escapes
env:
  vars:
    DOCKER_HOST: unix://`+b.LocalSocket+`
phases:
  build: ["printf '\\033]52;c;ZXZpbA==\\007\\033]0;title\\007\\033[2J\\033[31mred\\033[0m visible\\n'"]
`), 0o644))
	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "run", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "\x1b[31mred\x1b[0m visible") {
		t.Fatalf("the coloured line is missing: %q", out)
	}
	for _, seq := range []string{"\x1b]52", "\x1b]0;", "\x1b[2J"} {
		if strings.Contains(out, seq) {
			t.Errorf("%q reached the terminal: %q", seq, out)
		}
	}
	_, raw, _ := runJetway(t, map[string]string{"HOME": t.TempDir()}, "run", dir, "--raw")
	if !strings.Contains(raw, "\x1b]52;c;ZXZpbA==") {
		t.Fatalf("--raw dropped bytes: %q", raw)
	}
}
