package dockerhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// startProxy serves a unix socket forwarding to h for the test's lifetime.
func startProxy(t *testing.T, h *Host) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := ListenUnix(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Proxy{Dialer: h}).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("the socket %s is still there after the proxy stopped", sock)
		}
	})
	return sock
}

func dockerCLI(ctx context.Context, sock string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", append([]string{"--host", "unix://" + sock}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+os.TempDir()+"/jetway-test-docker-config")
	return cmd
}

func TestProxyServesConcurrentDockerCommands(t *testing.T) {
	b := bed.Get(t)
	h := open(t, sshOptions(b))
	sock := startProxy(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"volume", "inspect", "--format", "{{.Name}}", b.RemoteMarker}
			if i%2 == 1 {
				args = []string{"run", "--rm", testbed.BaseImage, "echo", fmt.Sprintf("hello %d", i)}
			}
			out, err := dockerCLI(ctx, sock, args...).CombinedOutput()
			switch {
			case err != nil:
				errs <- fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
			case i%2 == 0 && strings.TrimSpace(string(out)) != b.RemoteMarker:
				errs <- fmt.Errorf("volume inspect printed %q", out)
			case i%2 == 1 && strings.TrimSpace(string(out)) != fmt.Sprintf("hello %d", i):
				errs <- fmt.Errorf("run printed %q", out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One SSH connection carried them all.
	if h.closer.(*sshTransport).live == nil {
		t.Fatal("no SSH connection")
	}
}

func TestDockerBuildThroughProxy(t *testing.T) {
	b := bed.Get(t)
	h := open(t, sshOptions(b))
	sock := startProxy(t, h)
	dir := t.TempDir()
	tag := "jetway-proxy-build:" + b.ID
	mustWrite(t, filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf("FROM %s\nCOPY data.txt /data.txt\nRUN wc -c /data.txt > /size\n", testbed.BaseImage)))
	mustWrite(t, filepath.Join(dir, "data.txt"), []byte(strings.Repeat("jetway ", 1000)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := dockerCLI(ctx, sock, "build", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build through the proxy: %v\n%s", err, out)
	}
	remote, err := testbed.LocalClient(b.RemoteSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if _, err := remote.ImageInspect(ctx, tag); err != nil {
		t.Fatalf("the image is not on the remote host: %v", err)
	}
	local, err := testbed.LocalClient(b.LocalSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if _, err := local.ImageInspect(ctx, tag); err == nil {
		t.Fatal("the image was built on the local daemon")
	}
	// Attach and stdin ride hijacked connections with half-closes.
	cmd := dockerCLI(ctx, sock, "run", "--rm", "-i", tag, "sh", "-c", "cat; cat /size")
	cmd.Stdin = strings.NewReader("from stdin\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "from stdin") || !strings.Contains(string(out), "7000 /data.txt") {
		t.Fatalf("docker run -i through the proxy: %v: %q", err, out)
	}
}

func TestProxyReportsAnUnreachableHost(t *testing.T) {
	b := bed.Get(t)
	h := open(t, Options{Host: "unix://" + filepath.Join(t.TempDir(), "gone.sock")})
	sock := startProxy(t, h)
	out, err := dockerCLI(context.Background(), sock, "version").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no such file") {
		t.Fatalf("docker version through a proxy to nowhere: %v: %s", err, out)
	}
	_ = b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
