package runner

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/dockerguard"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// runWithPolicy runs a project under the operator policy given.
func (h *harness) runWithPolicy(t *testing.T, dir, runID string, policy api.DockerPolicy) (*Summary, string) {
	t.Helper()
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := Run(context.Background(), Options{
		SourceDir: dir, Project: p, RunID: runID, Sink: rec, Docker: policy,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		},
	})
	return s, rec.text()
}

// TestPhasesDoNotHoldTheDockerHostsCredentials: the runner keeps
// JETS_SSH_KEY for its own connection; a phase finds it neither in ~/.ssh
// nor in its environment nor in the runner's directory, and reaches the
// host only through the guard, which refuses a privileged container and
// removes what the run left.
func TestPhasesDoNotHoldTheDockerHostsCredentials(t *testing.T) {
	h := newHarness(t)
	runID := fmt.Sprintf("g%07d", time.Now().UnixNano()%10000000)
	dir := writeProject(t, map[string]string{"jetway.yaml": h.projectFile("guarded", fmt.Sprintf(`phases:
  build:
    - test ! -e ~/.ssh/id_rsa && echo "no key in home"
    - test -z "$JETS_SSH_KEY" && echo "no key in env"
    - ls ../runner 2>&1 || true
    - cat ../runner/id_rsa 2>&1 || true
    - grep -rl "PRIVATE KEY" ~ /tmp 2>/dev/null || echo "no key anywhere"
    - docker version --format 'server {{.Server.Version}}'
    - docker run --rm --privileged %[1]s true 2>&1 || true
    - docker run -d --name left-behind %[1]s sleep 600
    - echo "$DOCKER_PASS" | docker login -u "$DOCKER_USER" --password-stdin "$DOCKER_REGISTRY" >/dev/null && echo "login through the guard"
    - docker tag %[1]s "$DOCKER_REGISTRY/guarded/pushed:1" && docker push -q "$DOCKER_REGISTRY/guarded/pushed:1" >/dev/null && echo "push through the guard"
    - for a in %[2]s/22 %[2]s/2376 127.0.0.1/%[3]s; do timeout 5 bash -c "exec 3<>/dev/tcp/${a%%%%/*}/${a##*/}" 2>/dev/null && echo "reached $a" || echo "blocked $a"; done
`, testbed.BaseImage, h.bed.RemoteIP, serverPort(t, h)))})
	s, out := h.runWithPolicy(t, dir, runID, api.DockerPolicy{})
	if s.Status != string(Succeeded) {
		t.Fatalf("run %s: %s\n%s", s.Status, s.Error, out)
	}
	for _, a := range []string{h.bed.RemoteIP + "/22", h.bed.RemoteIP + "/2376", "127.0.0.1/" + serverPort(t, h)} {
		if !strings.Contains(out, "blocked "+a) {
			t.Errorf("a phase reached %s:\n%s", a, out)
		}
	}
	for _, want := range []string{"limits none (jetway.yaml's limits:; the machine sets none); the run's disk is not limited", "login through the guard", "push through the guard", "no key in home", "no key in env", "Permission denied", "no key anywhere", "server 20.", "rule privileged",
		"JETS_SSH_KEY kept by the runner", "docker policy strict (default)", "removed what the run left on the Docker host: 1 container(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "BEGIN OPENSSH PRIVATE KEY") || strings.Contains(out, "BEGIN RSA PRIVATE KEY") {
		t.Fatalf("a phase read the key:\n%s", out)
	}
	d, err := testbed.LocalClient(h.bed.RemoteSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	left, err := d.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", dockerguard.LabelRun+"="+runID))})
	if err != nil || len(left) != 0 {
		t.Fatalf("the run's container outlived it: %v %+v", err, left)
	}
}

// serverPort is the port of the harness's jetway server on loopback.
func serverPort(t *testing.T, h *harness) string {
	t.Helper()
	u, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// TestTrustedProjectGetsWhatTheOperatorAllowed: exposed credentials are
// in ~/.ssh again, and the allowance shows in the log; nothing else is
// relaxed.
func TestTrustedProjectGetsWhatTheOperatorAllowed(t *testing.T) {
	h := newHarness(t)
	dir := writeProject(t, map[string]string{"jetway.yaml": h.projectFile("trusted", fmt.Sprintf(`phases:
  build:
    - test -s ~/.ssh/id_rsa && echo "key in home"
    - docker create --privileged %[1]s true >/dev/null && echo "privileged created"
    - docker run --rm -v /:/host %[1]s true 2>&1 || true
`, testbed.BaseImage))})
	s, out := h.runWithPolicy(t, dir, fmt.Sprintf("u%07d", time.Now().UnixNano()%10000000),
		api.DockerPolicy{Allow: []string{api.DockerAllowPrivileged}, ExposeCredentials: true})
	if s.Status != string(Succeeded) {
		t.Fatalf("run %s: %s\n%s", s.Status, s.Error, out)
	}
	for _, want := range []string{"key in home", "privileged created", "rule host-mounts", "docker policy allows privileged; phases hold the Docker host's credentials"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
}
