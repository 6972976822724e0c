package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// TestPoolFailsOverAndCollects: the first candidate does not answer, so
// the run builds on the second and says why in its log and summary; the
// host's GC runs after the run; a phase has the host's DOCKER_HOST and
// JETS_SSH_KNOWN as with env.vars, and not its key.
func TestPoolFailsOverAndCollects(t *testing.T) {
	h := newHarness(t)
	b := h.bed
	dir := writeProject(t, map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo %d > /stamp\n", testbed.BaseImage, time.Now().UnixNano()),
		"jetway.yaml": fmt.Sprintf(`project: pooled
ssm_env: dev
docker_host: {pool: warm}
image:
  name: pooled/app
  builder: classic
phases:
  post_build:
    - docker image ls --format '{{.Repository}}' %s
    - test -n "$JETS_SSH_KNOWN" && test -z "$JETS_SSH_KEY" && echo "host vars as before"
`, b.RemoteMarker),
	})
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	creds := func(name, url string) api.HostCandidate {
		return api.HostCandidate{Name: name, URL: url, SSHKey: "SSM:/dev/JETS_SSH_KEY", KnownHosts: "SSM:/dev/JETS_SSH_KNOWN",
			GC: api.GCPolicy{MaxUsed: 1 << 40, KeepImages: 1}}
	}
	assigned := &api.AssignedHost{Pool: "warm", Candidates: []api.HostCandidate{
		creds("b1", "ssh://root@"+b.RemoteIP+":2"), // nothing listens there
		creds("b2", b.DockerHostSSH()),
	}, Skipped: []api.SkippedHost{{Name: "b0", Reason: "draining"}}}
	assigned.Candidates[0].Home = true
	rec := &recorder{}
	s := Run(context.Background(), Options{
		SourceDir: dir, Project: p, RunID: fmt.Sprintf("p%07d", time.Now().UnixNano()%10000000), Sink: rec, DockerHost: assigned,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		},
	})
	out := rec.text()
	if s.Status != string(Succeeded) {
		t.Fatalf("run %s: %s\n%s", s.Status, s.Error, out)
	}
	if s.DockerHostName != "b2" || !strings.HasPrefix(s.DockerHostChoice, "b2 (b0: draining; b1: ") {
		t.Fatalf("summary names %q, %q", s.DockerHostName, s.DockerHostChoice)
	}
	for _, want := range []string{"pool warm: docker host b2 (b0: draining; b1: ", "docker host b1 of pool warm: ", b.RemoteMarker, "host vars as before"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	if len(s.GC) != 1 || s.GC[0].Reason != "after the run" || len(s.GC[0].Images) != 0 {
		t.Fatalf("GC after the first run: %+v\n%s", s.GC, out)
	}
	// A second build: keep-images 1 leaves only the newest of the project.
	first := s.Tags
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf("FROM %s\nRUN echo %d > /stamp\n", testbed.BaseImage, time.Now().UnixNano())), 0o644); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{}
	s = Run(context.Background(), Options{
		SourceDir: dir, Project: p, RunID: fmt.Sprintf("p%07d", time.Now().UnixNano()%10000000), Sink: rec, DockerHost: assigned,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		},
	})
	// The first image lost its tag to the second: it is dangling now, and
	// removed by its ID.
	if s.Status != string(Succeeded) || len(s.GC) != 1 || len(s.GC[0].Images) != 1 {
		t.Fatalf("second run: %s %+v (first tagged %v)\n%s", s.Status, s.GC, first, rec.text())
	}
	if !strings.Contains(rec.text(), "docker host gc after the run: freed") {
		t.Fatalf("the log does not say what GC freed:\n%s", rec.text())
	}

	// No candidate: the run fails before any phase, naming the pool and
	// what to do.
	rec = &recorder{}
	s = Run(context.Background(), Options{
		SourceDir: dir, Project: p, RunID: fmt.Sprintf("q%07d", time.Now().UnixNano()%10000000), Sink: rec,
		DockerHost: &api.AssignedHost{Pool: "warm", Skipped: []api.SkippedHost{{Name: "b1", Reason: "draining"}}},
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		},
	})
	if s.Status != string(Failed) || !strings.Contains(s.Error, "no Docker host of pool warm can take the run: b1: draining") || !strings.Contains(s.Error, "jetway hosts add") {
		t.Fatalf("no candidate: %s %s", s.Status, s.Error)
	}
}
