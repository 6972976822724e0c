package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"

	"github.com/jetway-dev/jetway/internal/build"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// bridgedProject writes a project that builds on the bed's bridged remote
// daemon over ssh (BuildKit's RUN steps need a bridge), with the run's
// ssh key, known hosts and registry login from the server's parameters.
func bridgedSetup(t *testing.T) (*testbed.Bed, *serverProc, string) {
	t.Helper()
	b := bed.Get(t)
	socket, err := b.BridgedDocker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), freePort(t), 2)
	key, _ := os.ReadFile(b.ClientKey)
	known, _ := os.ReadFile(b.KnownHosts)
	s.putParam(t, "/e2e/JETS_SSH_KEY", "SecureString", string(key))
	s.putParam(t, "/e2e/JETS_SSH_KNOWN", "SecureString", string(known))
	s.putParam(t, "/e2e/DOCKER_PASS", "SecureString", b.RegistryPass)
	return b, s, socket
}

func bridgedVars(b *testbed.Bed, socket string) string {
	return fmt.Sprintf(`ssm_env: e2e
env:
  vars:
    DOCKER_HOST: %s
    JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN
    DOCKER_USER: %s
    DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
    DOCKER_REGISTRY: %s
`, b.DockerHostSSHTo(socket), b.RegistryUser, b.Registry)
}

// TestBuildKitMounts: two runs of one project on a remote Docker host over
// ssh with BuildKit. A cache mount keeps what the first run's build wrote;
// a secret mount gets a SecureString that shows only as [MASKED] and is
// in neither the image's history, nor its saved layers, nor anywhere in
// the daemon's data root; an ssh mount reaches the remote host's sshd with
// the run's key through the forwarded agent, and the key is in no layer.
func TestBuildKitMounts(t *testing.T) {
	b, s, socket := bridgedSetup(t)
	secretValue := "jw-build-secret-" + randHex(t)
	s.putParam(t, "/e2e/API_KEY", "SecureString", secretValue)

	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "sshc"), "./testdata/sshclient")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the ssh client: %v\n%s", err, out)
	}
	writeFiles(t, dir, map[string]string{
		"app.txt": "one\n",
		"Dockerfile": fmt.Sprintf(`FROM %s
COPY sshc /sshc
COPY app.txt /app.txt
RUN --mount=type=cache,target=/cache sh -c 'echo "previous=$(cat /cache/last 2>/dev/null)"; cat /app.txt > /cache/last'
RUN --mount=type=secret,id=api_key sh -c 'test -s /run/secrets/api_key && echo "secret=$(cat /run/secrets/api_key)"'
RUN --mount=type=ssh /sshc %s:22 'echo ssh-ok-$((6*7))'
`, testbed.BaseImage, b.RemoteIP),
		"jetway.yaml": "project: e2e-buildkit\n" + bridgedVars(b, socket) + fmt.Sprintf(`image:
  name: %s/e2e-buildkit
  push: true
  secrets:
    api_key: SSM:/#{ssm_env}/API_KEY
  ssh: [default]
phases:
  build: []
`, b.Registry),
	})
	ctx := context.Background()
	code, out1, err1 := s.jetway(t, ctx, dir, "run")
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", code, out1, err1)
	}
	for _, want := range []string{"previous=\n", "secret=[MASKED]", "ssh-ok-42", "BuildKit"} {
		if !strings.Contains(out1, want) {
			t.Fatalf("first run's log lacks %q:\n%s", want, out1)
		}
	}
	writeFiles(t, dir, map[string]string{"app.txt": "two\n"})
	code, out2, err2 := s.jetway(t, ctx, dir, "run")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out2, err2)
	}
	if !strings.Contains(out2, "previous=one") {
		t.Fatalf("the cache mount did not keep the first run's file:\n%s", out2)
	}

	key, _ := os.ReadFile(b.ClientKey)
	secrets := [][]byte{[]byte(secretValue)}
	for _, line := range strings.Split(string(key), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, []byte(line))
		}
	}
	for _, out := range []string{out1, err1, out2, err2} {
		for _, sec := range secrets {
			if strings.Contains(out, string(sec)) {
				t.Fatalf("a secret shows in the run's output: %q", sec)
			}
		}
	}
	c, err := testbed.LocalClient(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ref := b.Registry + "/e2e-buildkit:latest"
	hist, err := c.ImageHistory(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var histText strings.Builder
	for _, h := range hist {
		histText.WriteString(h.CreatedBy + "\n" + h.Comment + "\n")
	}
	rc, err := c.ImageSave(ctx, []string{ref})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(histText.String(), "/run/secrets/api_key") || len(saved) < 1<<20 {
		t.Fatalf("history or saved image not what the build made:\n%s", histText.String())
	}
	for _, sec := range secrets {
		if strings.Contains(histText.String(), string(sec)) || bytes.Contains(saved, sec) {
			t.Fatalf("the image holds a secret: %q", sec)
		}
	}
	// The build cache and everything else the daemon keeps.
	dataRoot := filepath.Join(filepath.Dir(socket), "data")
	err = filepath.WalkDir(dataRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, sec := range secrets {
			if bytes.Contains(data, sec) {
				return fmt.Errorf("%s holds a secret: %q", p, sec)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClassicBuilderStillWorks: image.builder: classic builds with the
// classic builder, and says so.
func TestClassicBuilderStillWorks(t *testing.T) {
	b, s, socket := bridgedSetup(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo classic-$((6*7))\n", testbed.BaseImage),
		"jetway.yaml": "project: e2e-classic\n" + bridgedVars(b, socket) + fmt.Sprintf(`image:
  name: %s/e2e-classic
  push: false
  builder: classic
phases:
  build: []
`, b.Registry),
	})
	code, out, errOut := s.jetway(t, context.Background(), dir, "run")
	if code != 0 || !strings.Contains(out, "classic builder") || !strings.Contains(out, "classic-42") || !strings.Contains(out, "Step 2/4") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestBuildKitCacheFromRegistry: image.cache_from: registry warms a fresh
// Docker host. A run on one host builds with inline cache metadata and
// pushes to a TLS registry; the first run on another host with an empty
// data root, after a source change, imports that cache: its dependency
// step is reported cached and its layer is the first host's, byte for
// byte (the step writes a random value, so a rebuild would differ).
func TestBuildKitCacheFromRegistry(t *testing.T) {
	b := bed.Get(t)
	ctx := context.Background()
	// The registry before the daemons: dockerd's BuildKit reads the CAs
	// it trusts when it starts.
	reg, stopReg, err := b.StartTLSRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopReg() })
	first, stopFirst, err := b.NewBridgedDocker(ctx, "cache-first")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopFirst() })
	fresh, stopFresh, err := b.NewBridgedDocker(ctx, "cache-fresh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopFresh() })

	// The base image comes from the registry, as on a real fresh host.
	base := reg + "/e2e-cache/base:latest"
	c1, err := testbed.LocalClient(first)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := testbed.ImportBaseImage(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if err := c1.ImageTag(ctx, testbed.BaseImage, base); err != nil {
		t.Fatal(err)
	}
	auth := registry.AuthConfig{Username: b.RegistryUser, Password: b.RegistryPass, ServerAddress: reg}
	if _, err := build.Push(ctx, c1, base, &auth, io.Discard); err != nil {
		t.Fatalf("pushing the base image to the TLS registry: %v", err)
	}

	s := startServer(t, t.TempDir(), freePort(t), 2)
	key, _ := os.ReadFile(b.ClientKey)
	known, _ := os.ReadFile(b.KnownHosts)
	s.putParam(t, "/e2e/JETS_SSH_KEY", "SecureString", string(key))
	s.putParam(t, "/e2e/JETS_SSH_KNOWN", "SecureString", string(known))
	s.putParam(t, "/e2e/DOCKER_PASS", "SecureString", b.RegistryPass)
	dir := t.TempDir()
	project := func(socket string) string {
		return fmt.Sprintf(`project: e2e-cache-from
ssm_env: e2e
env:
  vars:
    DOCKER_HOST: %s
    JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN
    DOCKER_USER: %s
    DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
    DOCKER_REGISTRY: %s
image:
  name: %s/e2e-cache-from
  push: true
  cache_from: registry
phases:
  build: []
`, b.DockerHostSSHTo(socket), b.RegistryUser, reg, reg)
	}
	writeFiles(t, dir, map[string]string{
		"app.txt": "one\n",
		"Dockerfile": fmt.Sprintf(`FROM %s
RUN echo "deps $(cat /proc/sys/kernel/random/uuid)" > /deps
COPY app.txt /app.txt
`, base),
		"jetway.yaml": project(first),
	})
	code, out1, err1 := s.jetway(t, ctx, dir, "run")
	if code != 0 {
		t.Fatalf("run on the first host: exit %d\n%s\n%s", code, out1, err1)
	}
	writeFiles(t, dir, map[string]string{"app.txt": "two\n", "jetway.yaml": project(fresh)})
	code, out2, err2 := s.jetway(t, ctx, dir, "run")
	if code != 0 {
		t.Fatalf("first run on the fresh host: exit %d\n%s\n%s", code, out2, err2)
	}
	if !regexp.MustCompile(`(?m)\[2/3\] RUN echo "deps .* CACHED$`).MatchString(out2) || !strings.Contains(out2, "1/2 steps cached") {
		t.Fatalf("the fresh host's first build did not take the dependency step from the registry's cache:\n%s", out2)
	}

	c2, err := testbed.LocalClient(fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ref := reg + "/e2e-cache-from:latest"
	layers := func(c *client.Client) []string {
		t.Helper()
		img, err := c.ImageInspect(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return img.RootFS.Layers
	}
	l1, l2 := layers(c1), layers(c2)
	if len(l1) != 3 || len(l2) != 3 || l1[1] != l2[1] || l1[2] == l2[2] {
		t.Fatalf("layers on the first host %v, on the fresh host %v: want the same dependency layer and another app layer", l1, l2)
	}
}
