package dockerhost

// Peer benchmarks on the test bed, run with
//
//	go test -run '^$' -bench . -benchtime 20x ./internal/dockerhost/
//
// Each compares jetway's proxy with what a user would otherwise use against
// the same remote daemon in the same run: the docker CLI's own ssh://
// (an ssh process and handshake per command) and OpenSSH's unix-socket
// forward (ssh -L). Figures go into BENCHMARKS.md.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// peers sets up the three ways to reach the remote daemon and returns the
// environment (DOCKER_HOST and PATH) for each.
func peers(b *testing.B) (bd *testbed.Bed, h *Host, env map[string][]string) {
	bd = bed.Get(b)
	ctx := context.Background()
	h, err := Open(ctx, sshOptions(bd))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	dir := b.TempDir()

	proxySock := filepath.Join(dir, "jetway.sock")
	l, err := ListenUnix(proxySock, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	go (&Proxy{Dialer: h}).Serve(pctx, l)

	// The docker CLI runs `ssh`; a wrapper first in PATH gives it the bed's
	// key and known_hosts, as ~/.ssh/config would.
	sshConfig := filepath.Join(dir, "ssh_config")
	must(b, os.WriteFile(sshConfig, []byte(fmt.Sprintf("Host *\n  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n", bd.ClientKey, bd.KnownHosts)), 0o600))
	binDir := filepath.Join(dir, "bin")
	must(b, os.MkdirAll(binDir, 0o755))
	must(b, os.WriteFile(filepath.Join(binDir, "ssh"), []byte("#!/bin/sh\nexec /usr/bin/ssh -F "+sshConfig+" \"$@\"\n"), 0o755))
	path := binDir + ":" + os.Getenv("PATH")

	fwdSock := filepath.Join(dir, "openssh.sock")
	fwd := exec.Command("/usr/bin/ssh", "-F", sshConfig, "-nNT", "-o", "ExitOnForwardFailure=yes",
		"-L", fwdSock+":"+bd.RemoteSocket, "root@"+bd.RemoteIP)
	must(b, fwd.Start())
	b.Cleanup(func() { fwd.Process.Kill(); fwd.Wait() })
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(fwdSock); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}

	cfg := "DOCKER_CONFIG=" + filepath.Join(dir, "docker-config")
	env = map[string][]string{
		"jetway-proxy":    {"DOCKER_HOST=unix://" + proxySock, "PATH=" + path, cfg},
		"docker-cli-ssh":  {"DOCKER_HOST=" + bd.DockerHostSSH(), "PATH=" + path, cfg},
		"openssh-forward": {"DOCKER_HOST=unix://" + fwdSock, "PATH=" + path, cfg},
		"direct-socket":   {"DOCKER_HOST=unix://" + bd.RemoteSocket, "PATH=" + path, cfg},
	}
	return bd, h, env
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func runDocker(b *testing.B, env []string, args ...string) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// BenchmarkDockerVersion: one `docker version` (a /_ping and a /version on a
// new connection) per iteration.
func BenchmarkDockerVersion(b *testing.B) {
	_, _, env := peers(b)
	for _, name := range []string{"jetway-proxy", "docker-cli-ssh", "openssh-forward", "direct-socket"} {
		b.Run(name, func(b *testing.B) {
			runDocker(b, env[name], "version") // warm up
			b.ResetTimer()
			for range b.N {
				runDocker(b, env[name], "version")
			}
		})
	}
}

// BenchmarkPing: GET /_ping over jetway's kept-alive connection, from Go.
func BenchmarkPing(b *testing.B) {
	_, h, _ := peers(b)
	ctx := context.Background()
	if _, err := h.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := h.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDialAndPing: a new SSH channel per /_ping, as each docker command
// opens one.
func BenchmarkDialAndPing(b *testing.B) {
	_, h, _ := peers(b)
	ctx := context.Background()
	req := []byte("GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 4096)
	b.ResetTimer()
	for range b.N {
		c, err := h.DialContext(ctx, "", "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkSocketPing: a new connection to a unix socket and one /_ping on
// it, without the docker CLI's start-up time: the proxy's own overhead
// against OpenSSH's forward and the remote socket itself.
func BenchmarkSocketPing(b *testing.B) {
	_, _, env := peers(b)
	req := []byte("GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 4096)
	for _, name := range []string{"jetway-proxy", "openssh-forward", "direct-socket"} {
		sock := strings.TrimPrefix(env[name][0], "DOCKER_HOST=unix://")
		b.Run(name, func(b *testing.B) {
			for range b.N {
				c, err := net.Dial("unix", sock)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadAtLeast(c, buf, 12); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkWarmBuild: a no-change `docker build` of a 12 MB context (the
// classic builder sends the whole context every time).
func BenchmarkWarmBuild(b *testing.B) {
	bd, _, env := peers(b)
	dir := b.TempDir()
	data := make([]byte, 12<<20)
	_, _ = rand.Read(data)
	must(b, os.WriteFile(filepath.Join(dir, "blob.bin"), data, 0o644))
	must(b, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf("FROM %s\nCOPY blob.bin /blob.bin\nRUN sha256sum /blob.bin > /sum\n", testbed.BaseImage)), 0o644))
	tag := "jetway-bench-build:" + bd.ID
	for _, name := range []string{"jetway-proxy", "docker-cli-ssh"} {
		b.Run(name, func(b *testing.B) {
			runDocker(b, env[name], "build", "-q", "-t", tag, dir) // warm the cache
			b.ResetTimer()
			for range b.N {
				runDocker(b, env[name], "build", "-q", "-t", tag, dir)
			}
		})
	}
}
