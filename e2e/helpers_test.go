// Package e2e runs jetway end to end: a real server with its local
// executor, the real CLI, runners as child processes, and the test bed's
// remote Docker host over ssh and registry.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/testbed"
)

var (
	bed       testbed.Shared
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	bed.Close()
	pg.Close()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// jetwayBinary builds cmd/jetway once per test binary.
func jetwayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jetway-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "jetway")
		out, err := exec.Command("go", "build", "-o", binary, "../cmd/jetway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// serverProc is a `jetway server` child process.
type serverProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	URL     string
	DataDir string
	Home    string
	log     *syncBuffer
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs `jetway server` on a free loopback port with home as
// its HOME (the data dir is home's default one, so clients with the same
// HOME need no settings). Its runs may use the bed's local dockerd (the
// cheapest real run); startServerWith chooses the flags.
func startServer(t *testing.T, home string, port int, concurrency int) *serverProc {
	t.Helper()
	return startServerWith(t, home, port, concurrency, "--allow-local-docker")
}

func startServerWith(t *testing.T, home string, port int, concurrency int, flags ...string) *serverProc {
	t.Helper()
	bin := jetwayBinary(t)
	s := &serverProc{t: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Home: home, DataDir: filepath.Join(home, ".local", "share", "jetway"), log: &syncBuffer{}}
	args := append([]string{"server", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--concurrency", fmt.Sprint(concurrency)}, flags...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop() })
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the server did not start:\n%s", s.log.String())
	return nil
}

func (s *serverProc) stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
}

func (s *serverProc) client(t *testing.T) *apiclient.Client {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	return apiclient.New(s.URL, strings.TrimSpace(string(token)))
}

// jetway runs the CLI with the server's HOME, so it finds server and token
// by default.
func (s *serverProc) jetway(t *testing.T, ctx context.Context, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, jetwayBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + s.Home, "PATH=" + os.Getenv("PATH"), "JETWAY_SERVER=" + s.URL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return code, out.String(), errb.String()
}

func (s *serverProc) run(t *testing.T, id string) api.Run {
	t.Helper()
	var r api.Run
	if err := s.client(t).Do(context.Background(), http.MethodGet, "/v1/runs/"+id, nil, nil, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor polls until every run is finished.
func (s *serverProc) waitFinished(t *testing.T, ids []string, timeout time.Duration) []api.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var runs []api.Run
		done := true
		for _, id := range ids {
			r := s.run(t, id)
			runs = append(runs, r)
			done = done && api.Finished(r.Status)
		}
		if done {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs not finished after %s: %+v\nserver log:\n%s", timeout, runs, s.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deployAll runs n `jetway deploy --detach` at once, at most parallel at a
// time, deploy i through the server and from the project target(i) gives,
// and returns the ids of the runs queued (in no order).
func deployAll(t *testing.T, ctx context.Context, n, parallel int, target func(i int) (*serverProc, string)) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, dir := target(i)
			code, out, errOut := s.jetway(t, ctx, dir, "deploy", "--detach")
			if code != 0 {
				t.Errorf("deploy %d: exit %d %s", i, code, errOut)
				return
			}
			mu.Lock()
			ids = append(ids, strings.TrimSpace(out))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ids
}

func (s *serverProc) putParam(t *testing.T, name, typ, value string) {
	t.Helper()
	err := s.client(t).Do(context.Background(), http.MethodPost, "/v1/params", nil, api.PutParamRequest{Name: name, Type: typ, Value: value, Overwrite: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
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
