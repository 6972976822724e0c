//go:build linux

package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// homeFor makes a fresh home whose ~/.ssh holds the bed's key and known_hosts,
// as a runner's bootstrap writes them.
func homeFor(t *testing.T, b *testbed.Bed, known string) string {
	t.Helper()
	home := t.TempDir()
	key, err := os.ReadFile(b.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(t, os.WriteFile(filepath.Join(home, ".ssh", "id_rsa"), key, 0o600))
	must(t, os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(known), 0o600))
	return home
}

func TestCheckCommand(t *testing.T) {
	b := bed.Get(t)
	known, err := os.ReadFile(b.KnownHosts)
	must(t, err)
	env := map[string]string{"HOME": homeFor(t, b, string(known)), "DOCKER_HOST": b.DockerHostSSH()}

	code, out, errOut := runJetway(t, env, "dockerhost", "check")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Server", "API 1.", "linux/", "overlay2", "Build cache", "Latency"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runJetway(t, env, "dockerhost", "check", "--json", "--platform", "linux/arm64")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	var report struct {
		Architecture string `json:"architecture"`
		Warning      string `json:"warning"`
	}
	must(t, json.Unmarshal([]byte(out), &report))
	if report.Architecture == "" || (report.Architecture != "arm64" && !strings.Contains(report.Warning, "linux/arm64")) {
		t.Fatalf("report %+v: want a platform warning", report)
	}
}

func TestCheckCommandFailures(t *testing.T) {
	b := bed.Get(t)
	known, err := os.ReadFile(b.KnownHosts)
	must(t, err)
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		code  int
		wants []string
	}{
		{
			name:  "unknown host key",
			env:   map[string]string{"HOME": homeFor(t, b, ""), "DOCKER_HOST": b.DockerHostSSH()},
			code:  ExitUnreachable,
			wants: []string{"not known", "SHA256:", "ssh-keyscan -H -t", "JETS_SSH_KNOWN"},
		},
		{
			name:  "refused",
			env:   map[string]string{"HOME": homeFor(t, b, string(known))},
			args:  []string{"--host", "ssh://root@" + b.RemoteIP + ":2"},
			code:  ExitUnreachable,
			wants: []string{"connection refused"},
		},
		{
			name:  "missing remote socket",
			env:   map[string]string{"HOME": homeFor(t, b, string(known))},
			args:  []string{"--host", "ssh://root@" + b.RemoteIP + "/nope.sock"},
			code:  ExitUnreachable,
			wants: []string{"/nope.sock", "no such file"},
		},
		{
			name:  "bad url",
			env:   map[string]string{"HOME": t.TempDir()},
			args:  []string{"--host", "docker.internal:2375"},
			code:  ExitUsage,
			wants: []string{"missing scheme"},
		},
		{
			name:  "missing TLS files",
			env:   map[string]string{"HOME": t.TempDir(), "DOCKER_TLS_VERIFY": "1"},
			args:  []string{"--host", b.RemoteTLS},
			code:  ExitUnreachable,
			wants: []string{"ca.pem is missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runJetway(t, tt.env, append([]string{"dockerhost", "check", "--timeout", "5s"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestProxyCommand runs the built binary, as a user would: the docker CLI
// works through the socket, and SIGTERM stops it and removes the socket.
func TestProxyCommand(t *testing.T) {
	b := bed.Get(t)
	bin := filepath.Join(t.TempDir(), "jetway")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/jetway").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := filepath.Join(t.TempDir(), "d.sock")
	proxy := exec.Command(bin, "dockerhost", "proxy", "--host", b.DockerHostSSH(), "-i", b.ClientKey, "--known-hosts", b.KnownHosts, "--listen", "unix://"+sock)
	var stderr bytes.Buffer
	proxy.Stderr = &stderr
	must(t, proxy.Start())
	defer proxy.Process.Kill()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	out, err := exec.Command("docker", "--host", "unix://"+sock, "volume", "inspect", "--format", "{{.Name}}", b.RemoteMarker).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != b.RemoteMarker {
		t.Fatalf("docker through the proxy: %v: %s\nproxy: %s", err, out, stderr.String())
	}
	must(t, proxy.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- proxy.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("proxy exited with %v: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not stop on SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatal("the socket is still there")
	}
	if !strings.Contains(stderr.String(), "export DOCKER_HOST=unix://"+sock) {
		t.Errorf("proxy did not say how to use it: %s", stderr.String())
	}
}
