package dockerguard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/build"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// bed's remote dockerd is the shared Docker host of these tests; what
// the daemon says, asked directly, is the ground truth.
var bed testbed.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	bed.Close()
	os.Exit(code)
}

type unixDialer string

func (d unixDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, "unix", string(d))
}

// guarded is one run's guard on the bed's remote daemon.
type guarded struct {
	t      *testing.T
	g      *Guard
	socket string
	home   string
}

func startGuard(t *testing.T, project, runID string, policy api.DockerPolicy) *guarded {
	t.Helper()
	return startGuardOn(t, bed.Get(t).RemoteSocket, project, runID, policy)
}

// startGuardOn starts a guard in front of the daemon at socket.
func startGuardOn(t *testing.T, upstream, project, runID string, policy api.DockerPolicy) *guarded {
	t.Helper()
	dir, err := os.MkdirTemp("", "guard-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	g := New(Config{Dialer: unixDialer(upstream), Project: project, RunID: runID, Policy: policy})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, l) }()
	t.Cleanup(func() {
		cleanupCtx, stop := context.WithTimeout(context.Background(), time.Minute)
		defer stop()
		if _, err := g.Cleanup(cleanupCtx); err != nil {
			t.Errorf("cleanup of run %s: %v", runID, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("guard: %v", err)
		}
		g.Close()
	})
	return &guarded{t: t, g: g, socket: sock, home: dir}
}

// docker runs the docker CLI against the guard.
func (gd *guarded) docker(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + gd.home, "DOCKER_HOST=unix://" + gd.socket, "DOCKER_CONFIG=" + filepath.Join(gd.home, ".docker")}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (gd *guarded) mustDocker(args ...string) string {
	gd.t.Helper()
	out, err := gd.docker("", args...)
	if err != nil {
		gd.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// raw sends bytes as they are on one connection and returns what came back
// until the guard or the daemon closed it (or a second passed idle).
func (gd *guarded) raw(payload string) string {
	gd.t.Helper()
	c, err := net.Dial("unix", gd.socket)
	if err != nil {
		gd.t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, payload); err != nil {
		gd.t.Fatal(err)
	}
	var out strings.Builder
	buf := make([]byte, 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func daemon(t *testing.T) *client.Client {
	t.Helper()
	c, err := testbed.LocalClient(bed.Get(t).RemoteSocket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// projectContainers is what the daemon holds of a project's containers.
func projectContainers(t *testing.T, d *client.Client, project string) []container.Summary {
	t.Helper()
	list, err := d.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+project))})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func expectRefused(t *testing.T, out string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected a refusal, the command succeeded:\n%s", out)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("refusal does not say %q:\n%s", want, out)
	}
}

func TestPhaseCannotTakeTheHost(t *testing.T) {
	gd := startGuard(t, "alpha", "run-host-1", api.DockerPolicy{})
	d := daemon(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"privileged", []string{"run", "--rm", "--privileged", testbed.BaseImage, "true"}, "rule privileged"},
		{"root bind", []string{"run", "--rm", "-v", "/:/host", testbed.BaseImage, "true"}, "rule host-mounts"},
		{"mount bind", []string{"run", "--rm", "--mount", "type=bind,source=/etc,target=/x", testbed.BaseImage, "true"}, "rule host-mounts"},
		{"pid host", []string{"run", "--rm", "--pid", "host", testbed.BaseImage, "true"}, "rule host-namespaces"},
		{"network host", []string{"run", "--rm", "--network", "host", testbed.BaseImage, "true"}, "rule host-namespaces"},
		{"ipc host", []string{"run", "--rm", "--ipc", "host", testbed.BaseImage, "true"}, "rule host-namespaces"},
		{"uts host", []string{"run", "--rm", "--uts", "host", testbed.BaseImage, "true"}, "rule host-namespaces"},
		{"userns host", []string{"run", "--rm", "--userns", "host", testbed.BaseImage, "true"}, "rule host-namespaces"},
		{"cgroupns host", []string{"run", "--rm", "--cgroupns", "host", testbed.BaseImage, "true"}, "rule host-namespaces"},
		{"cap SYS_ADMIN", []string{"run", "--rm", "--cap-add", "SYS_ADMIN", testbed.BaseImage, "true"}, "rule capabilities"},
		{"cap ALL", []string{"run", "--rm", "--cap-add", "ALL", testbed.BaseImage, "true"}, "rule capabilities"},
		{"device", []string{"run", "--rm", "--device", "/dev/loop0", testbed.BaseImage, "true"}, "rule devices"},
		{"seccomp unconfined", []string{"run", "--rm", "--security-opt", "seccomp=unconfined", testbed.BaseImage, "true"}, "rule unconfined"},
		{"apparmor unconfined", []string{"run", "--rm", "--security-opt", "apparmor=unconfined", testbed.BaseImage, "true"}, "rule unconfined"},
		{"systempaths unconfined", []string{"run", "--rm", "--security-opt", "systempaths=unconfined", testbed.BaseImage, "true"}, "rule unconfined"},
		{"cgroup parent", []string{"run", "--rm", "--cgroup-parent", "/system.slice", testbed.BaseImage, "true"}, "rule host-namespaces"},
		{"volume bound to a host path", []string{"volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", "hostetc"}, "rule host-mounts"},
		{"macvlan network", []string{"network", "create", "-d", "macvlan", "lan"}, "rule host-namespaces"},
		{"build on the host network", []string{"build", "--network", "host", "-t", "alpha/x", "-"}, "rule build-entitlements"},
		{"privileged exec", []string{"exec", "--privileged", "nonexistent", "true"}, "No such container"},
		{"swarm", []string{"swarm", "init"}, "swarm endpoints"},
		{"plugin", []string{"plugin", "install", "vieux/sshfs"}, "refused"},
		{"system prune", []string{"system", "prune", "-af"}, "refused"},
		{"image prune", []string{"image", "prune", "-af"}, "refused"},
		{"builder prune", []string{"builder", "prune", "-af"}, "refused"},
		{"secret", []string{"secret", "ls"}, "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := gd.docker("FROM "+testbed.BaseImage+"\n", tc.args...)
			expectRefused(t, out, err, tc.want)
		})
	}
	if list := projectContainers(t, d, "alpha"); len(list) != 0 {
		t.Fatalf("refused requests left containers: %+v", list)
	}
	if _, err := d.VolumeInspect(context.Background(), "hostetc"); err == nil {
		t.Fatal("the volume bound to /etc was created")
	}
}

func TestHandMadeRequests(t *testing.T) {
	gd := startGuard(t, "alpha", "run-raw-1", api.DockerPolicy{})
	d := daemon(t)
	create := func(body string) string {
		return fmt.Sprintf("POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	img := testbed.BaseImage
	t.Run("lower-case keys", func(t *testing.T) {
		out := gd.raw(create(`{"Image":"` + img + `","HostConfig":{"privileged":true,"binds":["/:/host"]}}`))
		if !strings.Contains(out, "403") || !strings.Contains(out, "rule privileged") {
			t.Fatalf("not refused:\n%s", out)
		}
	})
	t.Run("duplicate key, the last wins as in dockerd", func(t *testing.T) {
		out := gd.raw(create(`{"Image":"` + img + `","HostConfig":{"Privileged":false,"Privileged":true}}`))
		if !strings.Contains(out, "rule privileged") {
			t.Fatalf("not refused:\n%s", out)
		}
	})
	t.Run("binds with differing case", func(t *testing.T) {
		out := gd.raw(create(`{"Image":"` + img + `","HostConfig":{"Binds":["x:/x"],"BINDS":["/etc:/host"]}}`))
		if !strings.Contains(out, "rule host-mounts") {
			t.Fatalf("not refused:\n%s", out)
		}
	})
	t.Run("a number as a string", func(t *testing.T) {
		out := gd.raw(create(`{"Image":"` + img + `","HostConfig":{"Privileged":"true"}}`))
		if !strings.Contains(out, "400") {
			t.Fatalf("not refused:\n%s", out)
		}
	})
	t.Run("host settings at the top level are not forwarded", func(t *testing.T) {
		// dockerd 20.10 still reads HostConfig fields at the top level of
		// the body when there is no HostConfig; the guard re-encodes what
		// it checked, so they never reach it.
		out := gd.raw(create(`{"Image":"` + img + `","Cmd":["true"],"Privileged":true,"Binds":["/:/host"],"unknown":1}`))
		var created container.CreateResponse
		if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:strings.LastIndex(out, "}")+1]), &created) != nil || created.ID == "" {
			t.Fatalf("create failed:\n%s", out)
		}
		info, err := d.ContainerInspect(context.Background(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if info.HostConfig.Privileged || len(info.HostConfig.Binds) > 0 {
			t.Fatalf("the daemon made it privileged=%v binds=%v", info.HostConfig.Privileged, info.HostConfig.Binds)
		}
		if info.Config.Labels[LabelProject] != "alpha" || info.Config.Labels[LabelRun] != "run-raw-1" {
			t.Fatalf("labels: %v", info.Config.Labels)
		}
	})
	t.Run("a claim of another project's label is replaced", func(t *testing.T) {
		out := gd.raw(create(`{"Image":"` + img + `","Labels":{"dev.jetway.project":"beta","Dev.Jetway.Run":"x"}}`))
		var created container.CreateResponse
		if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:strings.LastIndex(out, "}")+1]), &created) != nil {
			t.Fatalf("create failed:\n%s", out)
		}
		info, err := d.ContainerInspect(context.Background(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Labels[LabelProject] != "alpha" {
			t.Fatalf("labels: %v", info.Config.Labels)
		}
	})
	t.Run("Content-Length 0 with a body", func(t *testing.T) {
		inner := create(`{"Image":"` + img + `","HostConfig":{"Privileged":true}}`)
		out := gd.raw("POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n" + inner)
		if !strings.Contains(out, "rule privileged") {
			t.Fatalf("the body after Content-Length 0 was not checked as a request of its own:\n%s", out)
		}
	})
	t.Run("pipelined after an allowed request", func(t *testing.T) {
		out := gd.raw("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n" + create(`{"Image":"`+img+`","HostConfig":{"Privileged":true}}`))
		if !strings.Contains(out, "OK") || !strings.Contains(out, "rule privileged") {
			t.Fatalf("pipelined request:\n%s", out)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		body := `{"Image":"` + img + `","HostConfig":{"Privileged":true}}`
		out := gd.raw(fmt.Sprintf("POST /containers/create HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body))
		if !strings.Contains(out, "rule privileged") {
			t.Fatalf("chunked body not checked:\n%s", out)
		}
	})
	t.Run("encoded path", func(t *testing.T) {
		for _, p := range []string{"/containers/..%2fcontainers%2fcreate", "/v1.41/containers/x/../create", "/%63ontainers/json", "//containers/json"} {
			if out := gd.raw("GET " + p + " HTTP/1.1\r\nHost: docker\r\n\r\n"); !strings.Contains(out, "400") && !strings.Contains(out, "403") {
				t.Fatalf("%s was served:\n%s", p, out)
			}
		}
	})
	t.Run("old API version", func(t *testing.T) {
		if out := gd.raw("GET /v1.23/version HTTP/1.1\r\nHost: docker\r\n\r\n"); !strings.Contains(out, "400") {
			t.Fatalf("v1.23 was served:\n%s", out)
		}
		for _, p := range []string{"/version", "/v1.41/version"} {
			if out := gd.raw("GET " + p + " HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"); !strings.Contains(out, "ApiVersion") {
				t.Fatalf("%s not served:\n%s", p, out)
			}
		}
	})
	t.Run("start with host settings in the body", func(t *testing.T) {
		out := gd.raw(create(`{"Image":"` + img + `","Cmd":["sleep","30"]}`))
		var created container.CreateResponse
		if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:strings.LastIndex(out, "}")+1]), &created) != nil {
			t.Fatalf("create failed:\n%s", out)
		}
		body := `{"Privileged":true,"Binds":["/:/host"]}`
		gd.raw(fmt.Sprintf("POST /v1.24/containers/%s/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", created.ID, len(body), body))
		info, err := d.ContainerInspect(context.Background(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if info.HostConfig.Privileged || len(info.HostConfig.Binds) > 0 {
			t.Fatalf("start's body reached the daemon: privileged=%v binds=%v", info.HostConfig.Privileged, info.HostConfig.Binds)
		}
	})
}

// TestObjectsBelongToTheirProject: a run of alpha cannot read, change or
// remove beta's containers, volumes, networks and images.
func TestObjectsBelongToTheirProject(t *testing.T) {
	beta := startGuard(t, "beta", "run-beta-1", api.DockerPolicy{})
	alpha := startGuard(t, "alpha", "run-alpha-1", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()

	betaID := beta.mustDocker("run", "-d", "--name", "beta-app", "-e", "BETA_TOKEN=s3cr3t-beta", "-v", "betadata:/data", testbed.BaseImage, "sh", "-c", "echo s3cr3t-file > /data/f; sleep 600")
	beta.mustDocker("network", "create", "betanet")
	beta.mustDocker("tag", testbed.BaseImage, "beta/app:1")

	for _, args := range [][]string{
		{"inspect", "beta-app"},
		{"logs", "beta-app"},
		{"exec", "beta-app", "env"},
		{"cp", "beta-app:/data/f", "-"},
		{"top", "beta-app"},
		{"stop", "beta-app"},
		{"kill", "beta-app"},
		{"rm", "-f", "beta-app"},
		{"rm", "-f", betaID[:12]},
		{"rename", "beta-app", "mine"},
		{"update", "--memory", "8m", "beta-app"},
		{"commit", "beta-app", "alpha/stolen"},
		{"run", "--rm", "--volumes-from", "beta-app", testbed.BaseImage, "cat", "/data/f"},
		{"run", "--rm", "--network", "container:beta-app", testbed.BaseImage, "true"},
		{"run", "--rm", "--pid", "container:beta-app", testbed.BaseImage, "true"},
		{"run", "--rm", "--link", "beta-app:b", testbed.BaseImage, "true"},
		{"run", "--rm", "-v", "betadata:/data", testbed.BaseImage, "cat", "/data/f"},
		{"run", "--rm", "--mount", "source=betadata,target=/data", testbed.BaseImage, "cat", "/data/f"},
		{"volume", "inspect", "betadata"},
		{"volume", "rm", "betadata"},
		{"network", "inspect", "betanet"},
		{"network", "rm", "betanet"},
		{"run", "--rm", "--network", "betanet", testbed.BaseImage, "true"},
		{"image", "rm", "beta/app:1"},
		{"image", "rm", "-f", testbed.BaseImage},
		{"tag", testbed.BaseImage, "beta/app:1"},
		{"tag", testbed.BaseImage, testbed.BaseImage},
		{"build", "-t", "beta/app:1", "-"},
	} {
		out, err := alpha.docker("FROM "+testbed.BaseImage+"\n", args...)
		// docker rm -f exits 0 for a container that is not there.
		refused := err != nil || strings.Contains(out, "No such container")
		if !refused || strings.Contains(out, "s3cr3t") {
			t.Errorf("alpha: docker %s was not refused:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := alpha.mustDocker("ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "beta") {
		t.Errorf("alpha lists beta's containers: %s", out)
	}
	if out := alpha.mustDocker("volume", "ls", "-q"); strings.Contains(out, "betadata") {
		t.Errorf("alpha lists beta's volumes: %s", out)
	}
	if out := alpha.mustDocker("network", "ls", "--format", "{{.Name}}"); strings.Contains(out, "betanet") {
		t.Errorf("alpha lists beta's networks: %s", out)
	}

	info, err := d.ContainerInspect(ctx, betaID)
	if err != nil || !info.State.Running || info.Name != "/beta-app" {
		t.Fatalf("beta's container was touched: %v %+v", err, info.State)
	}
	if _, err := d.NetworkInspect(ctx, "betanet", network.InspectOptions{}); err != nil {
		t.Fatalf("beta's network: %v", err)
	}
	if _, err := d.VolumeInspect(ctx, "betadata"); err != nil {
		t.Fatalf("beta's volume: %v", err)
	}
	betaImg, err := d.ImageInspect(ctx, "beta/app:1")
	if err != nil {
		t.Fatalf("beta's image: %v", err)
	}
	base, err := d.ImageInspect(ctx, testbed.BaseImage)
	if err != nil || base.ID != betaImg.ID {
		t.Fatalf("the base image was retagged or removed: %v", err)
	}
	t.Cleanup(func() {
		_, _ = d.ImageRemove(context.Background(), "beta/app:1", image.RemoveOptions{})
		_ = d.VolumeRemove(context.Background(), "betadata", true)
	})
}

// TestLegitimateUse: what a phase does with its own objects works.
func TestLegitimateUse(t *testing.T) {
	gd := startGuard(t, "alpha", "run-legit-1", api.DockerPolicy{})
	d := daemon(t)
	if out := gd.mustDocker("run", "--rm", testbed.BaseImage, "echo", "hello from the host"); out != "hello from the host" {
		t.Fatalf("run: %q", out)
	}
	if out, err := gd.docker("piped through\n", "run", "-i", "--rm", testbed.BaseImage, "cat"); err != nil || strings.TrimSpace(out) != "piped through" {
		t.Fatalf("run -i: %v %q", err, out)
	}
	gd.mustDocker("network", "create", "alphanet")
	gd.mustDocker("run", "-d", "--name", "alpha-db", "--network", "alphanet", "-v", "alphacache:/cache", testbed.BaseImage, "sleep", "600")
	if out := gd.mustDocker("run", "--rm", "--network", "alphanet", testbed.BaseImage, "ping", "-c", "1", "alpha-db"); !strings.Contains(out, "1 packets received") {
		t.Fatalf("container to container on the run's network: %s", out)
	}
	if out := gd.mustDocker("exec", "alpha-db", "sh", "-c", "echo hi > /cache/x && cat /cache/x"); out != "hi" {
		t.Fatalf("exec: %q", out)
	}
	if out := gd.mustDocker("exec", "-i", "alpha-db", "cat"); out != "" {
		t.Fatalf("exec -i: %q", out)
	}
	gd.mustDocker("logs", "alpha-db")
	gd.mustDocker("inspect", "alpha-db")
	dir := t.TempDir()
	gd.mustDocker("cp", "alpha-db:/cache/x", filepath.Join(dir, "x"))
	if b, _ := os.ReadFile(filepath.Join(dir, "x")); string(b) != "hi\n" {
		t.Fatalf("cp: %q", b)
	}
	gd.mustDocker("cp", filepath.Join(dir, "x"), "alpha-db:/tmp/y")
	gd.mustDocker("stop", "-t", "1", "alpha-db")
	gd.mustDocker("rm", "alpha-db")
	gd.mustDocker("network", "rm", "alphanet")

	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+testbed.BaseImage+"\nRUN echo built > /built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+testbed.BaseImage+"\nLABEL dev.jetway.project=beta\nRUN echo built > /built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gd.mustDocker("build", "--label", "dev.jetway.project=gamma", "-t", "alpha/app:1", dir)
	if img, err := d.ImageInspect(context.Background(), "alpha/app:1"); err != nil || img.Config.Labels[LabelProject] != "alpha" {
		t.Fatalf("a phase's build is labelled %v (%v); want the project's", img.Config.Labels, err)
	}
	gd.mustDocker("tag", "alpha/app:1", "alpha/app:2")
	if out := gd.mustDocker("run", "--rm", "alpha/app:2", "cat", "/built"); out != "built" {
		t.Fatalf("built image: %q", out)
	}
	gd.mustDocker("image", "rm", "alpha/app:2")
	gd.mustDocker("image", "rm", "alpha/app:1")
	gd.mustDocker("volume", "rm", "alphacache")
	gd.mustDocker("version")
	gd.mustDocker("info")
	if _, err := d.ImageInspect(context.Background(), "alpha/app:1"); err == nil {
		t.Fatal("alpha/app:1 is still there")
	}
}

// TestCleanupRemovesWhatTheRunLeft: a detached container, a network and an
// unnamed volume are gone after the run; a named volume (the project's
// cache) and another run's objects stay.
func TestCleanupRemovesWhatTheRunLeft(t *testing.T) {
	other := startGuard(t, "alpha", "run-keep-1", api.DockerPolicy{})
	keep := other.mustDocker("run", "-d", testbed.BaseImage, "sleep", "600")

	gd := startGuard(t, "alpha", "run-clean-1", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()
	id := gd.mustDocker("run", "-d", "-v", "/anon", "-v", "alphakeep:/keep", testbed.BaseImage, "sleep", "600")
	gd.mustDocker("network", "create", "alpha-left")
	anon := gd.mustDocker("volume", "create")
	info, err := d.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var anonMount string
	for _, m := range info.Mounts {
		if m.Destination == "/anon" {
			anonMount = m.Name
		}
	}
	removed, err := gd.g.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if removed.Containers != 1 || removed.Networks != 1 || removed.Volumes != 1 {
		t.Fatalf("removed %+v", removed)
	}
	if _, err := d.ContainerInspect(ctx, id); err == nil {
		t.Fatal("the detached container outlived the run")
	}
	if _, err := d.NetworkInspect(ctx, "alpha-left", network.InspectOptions{}); err == nil {
		t.Fatal("the network outlived the run")
	}
	for _, v := range []string{anon, anonMount} {
		if _, err := d.VolumeInspect(ctx, v); err == nil {
			t.Fatalf("the anonymous volume %s outlived the run", v)
		}
	}
	if _, err := d.VolumeInspect(ctx, "alphakeep"); err != nil {
		t.Fatalf("the named volume was removed: %v", err)
	}
	if c, err := d.ContainerInspect(ctx, keep); err != nil || !c.State.Running {
		t.Fatalf("another run's container was removed: %v", err)
	}
	_ = d.VolumeRemove(ctx, "alphakeep", true)
	var _ = volume.CreateOptions{}
}

// TestOperatorAllowances: a project the operator allows privileged
// containers gets them, and nothing else.
func TestOperatorAllowances(t *testing.T) {
	gd := startGuard(t, "trusted", "run-trusted-1", api.DockerPolicy{Allow: []string{api.DockerAllowPrivileged}})
	// The bed's daemon cannot start privileged containers (it runs in a
	// network namespace only); what it was asked to create is the point.
	id := gd.mustDocker("create", "--privileged", testbed.BaseImage, "true")
	info, err := daemon(t).ContainerInspect(context.Background(), id)
	if err != nil || !info.HostConfig.Privileged {
		t.Fatalf("the allowed privileged container: %v %+v", err, info.HostConfig)
	}
	out, err := gd.docker("", "run", "--rm", "-v", "/:/host", testbed.BaseImage, "true")
	expectRefused(t, out, err, "rule host-mounts")
	out, err = gd.docker("", "run", "--rm", "--network", "host", testbed.BaseImage, "true")
	expectRefused(t, out, err, "jetway projects set trusted --docker privileged,host-namespaces)")
}

// TestAttachStreamsBothWays: attach and exec start are upgraded
// connections; the guard passes them with half-closes.
func TestAttachStreamsBothWays(t *testing.T) {
	gd := startGuard(t, "alpha", "run-attach-1", api.DockerPolicy{})
	id := gd.mustDocker("create", "-i", testbed.BaseImage, "sh", "-c", "read line; echo got:$line")
	c, err := net.Dial("unix", gd.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /containers/%s/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", id)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("attach: %v %v", err, res)
	}
	gd.mustDocker("start", id)
	_, _ = io.WriteString(c, "hello\n")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	all, _ := io.ReadAll(br)
	if !strings.Contains(string(all), "got:hello") {
		t.Fatalf("attach output: %q", all)
	}
}

// TestBuildKitThroughTheGuard: a BuildKit build (the /session upgrade,
// the build with version=2, the bridge check) works through the guard,
// and the tag it sets is checked like any other.
func TestBuildKitThroughTheGuard(t *testing.T) {
	socket, err := bed.Get(t).BridgedDocker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gd := startGuardOn(t, socket, "alpha", "run-buildkit-1", api.DockerPolicy{})
	c, err := client.NewClientWithOpts(client.WithHost("unix://"+gd.socket), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "Dockerfile"), []byte("FROM "+testbed.BaseImage+"\nRUN echo through the guard > /g\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var log strings.Builder
	if _, err := build.BuildKit(ctx, c, build.Options{ContextDir: ws, Dockerfile: "Dockerfile", Tags: []string{"alpha/bk:1"}, SharedKey: "guard-" + filepath.Base(ws)}, &log, nil); err != nil {
		t.Fatalf("BuildKit through the guard: %v\n%s", err, log.String())
	}
	d, err := testbed.LocalClient(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ImageInspect(ctx, "alpha/bk:1"); err != nil {
		t.Fatalf("the image is not on the daemon: %v", err)
	}
	_, _ = d.ImageRemove(ctx, "alpha/bk:1", image.RemoveOptions{})
	log.Reset()
	if _, err := build.BuildKit(ctx, c, build.Options{ContextDir: ws, Dockerfile: "Dockerfile", Tags: []string{"beta/bk:1"}, SharedKey: "guard-" + filepath.Base(ws)}, &log, nil); err == nil || !strings.Contains(err.Error(), "tags only its project's repositories") {
		t.Fatalf("a build tagged as another project's: %v", err)
	}
	net, err := c.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil || len(net.Containers) != 0 {
		t.Fatalf("the bridge's inspection: %v, %d containers shown", err, len(net.Containers))
	}
}
