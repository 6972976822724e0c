package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/hosts"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// poolHost is one warm Docker host of a pool: a bed of its own (network
// namespace, sshd, dockerd), registered with the server.
type poolHost struct {
	name string
	bed  *testbed.Bed
	d    *client.Client
}

// startPool brings up n hosts and registers them as pool "warm" with the
// server, with extra flags for jetway hosts add.
func startPool(t *testing.T, s *serverProc, n int, extra ...string) []*poolHost {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out []*poolHost
	for i := range n {
		b, err := testbed.Up(ctx, testbed.Config{Owner: os.Getpid(), NoLocalDocker: true, NoRegistry: true})
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		t.Cleanup(func() { _ = b.Down() })
		d, err := testbed.LocalClient(b.RemoteSocket)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		h := &poolHost{name: fmt.Sprintf("b%d", i+1), bed: b, d: d}
		key, _ := os.ReadFile(b.ClientKey)
		known, _ := os.ReadFile(b.KnownHosts)
		s.putParam(t, "/pool/"+h.name+"/KEY", "SecureString", string(key))
		s.putParam(t, "/pool/"+h.name+"/KNOWN", "SecureString", string(known))
		args := append([]string{"hosts", "add", h.name, "--url", b.DockerHostSSH(), "--pool", "warm",
			"--ssh-key", "SSM:/pool/" + h.name + "/KEY", "--known-hosts", "SSM:/pool/" + h.name + "/KNOWN"}, extra...)
		if code, o, e := s.jetway(t, ctx, t.TempDir(), args...); code != 0 {
			t.Fatalf("jetway %s: exit %d\n%s\n%s", strings.Join(args, " "), code, o, e)
		}
		out = append(out, h)
	}
	return out
}

// poolProject writes a project on pool "warm" whose build has a slow,
// cacheable dependency step and then the source.
func poolProject(t *testing.T, name, extraDockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo dependencies of %s > /deps\n%sCOPY app.txt /app.txt\n", testbed.BaseImage, name, extraDockerfile),
		"app.txt":    "one\n",
		"jetway.yaml": fmt.Sprintf(`project: %s
docker_host: {pool: warm}
image:
  name: %s/app
  tags: ["{{.RunID}}"]
  builder: classic
  push: false
`, name, name),
	})
	return dir
}

// deployTo deploys dir and returns the finished run.
func deployTo(t *testing.T, s *serverProc, dir string) api.Run {
	t.Helper()
	code, out, errOut := s.jetway(t, context.Background(), dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	r := s.waitFinished(t, []string{strings.TrimSpace(out)}, 3*time.Minute)[0]
	if r.Status != api.StatusSucceeded {
		t.Fatalf("run %s %s: %s\n%s", r.ID, r.Status, r.Summary.Error, s.storedLog(t, r.ID))
	}
	return r
}

// holder is the pool host whose daemon has the run's freshly built image:
// the ground truth of where it built.
func holder(t *testing.T, pool []*poolHost, r api.Run) string {
	t.Helper()
	var found []string
	for _, h := range pool {
		if _, err := h.d.ImageInspect(context.Background(), r.Project+"/app:"+r.ID); err == nil {
			found = append(found, h.name)
		}
	}
	if len(found) != 1 {
		t.Fatalf("run %s's image is on %v", r.ID, found)
	}
	return found[0]
}

func depCached(r api.Run) bool {
	for _, st := range r.Summary.Build.Steps {
		if strings.HasPrefix(st.Instruction, "RUN echo dependencies") {
			return st.Cached
		}
	}
	return false
}

// waitHostState polls jetway hosts ls until host is up (or down).
func waitHostState(t *testing.T, s *serverProc, host string, up bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		code, out, _ := s.jetway(t, context.Background(), t.TempDir(), "hosts", "ls", "--json")
		var list []api.DockerHost
		if code == 0 && json.Unmarshal([]byte(out), &list) == nil {
			for _, h := range list {
				if h.Name == host && h.State != nil && h.State.Up == up && h.State.CheckedAt.After(start) {
					return time.Since(start)
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("host %s was not seen up=%v within %s", host, up, within)
	return 0
}

// TestPoolAffinityAndFailover: four projects on a pool of two keep their
// host deploy after deploy (the image is on that daemon and the
// dependency step comes from its cache); when a project's home is down
// its next deploy builds on the other host and says why, and once home is
// back it builds there again. A silent partition (the link down, no RST)
// is noticed within 30 s.
func TestPoolAffinityAndFailover(t *testing.T) {
	s := startServerWith(t, t.TempDir(), freePort(t), 4, "--host-check-interval", "2s")
	pool := startPool(t, s, 2)
	for _, h := range pool {
		waitHostState(t, s, h.name, true, 30*time.Second)
	}
	homeOf := map[string]string{}
	dirs := map[string]string{}
	for i := range 4 {
		name := fmt.Sprintf("pooled-%d", i)
		dirs[name] = poolProject(t, name, "")
		for round := range 3 {
			writeFiles(t, dirs[name], map[string]string{"app.txt": fmt.Sprintf("round %d\n", round)})
			r := deployTo(t, s, dirs[name])
			got := holder(t, pool, r)
			if r.Summary.DockerHostName != got {
				t.Fatalf("run %s says it built on %s, the image is on %s", r.ID, r.Summary.DockerHostName, got)
			}
			if round == 0 {
				homeOf[name] = got
			} else if got != homeOf[name] {
				t.Fatalf("%s moved from %s to %s at deploy %d", name, homeOf[name], got, round+1)
			} else if !depCached(r) {
				t.Fatalf("%s's warm deploy %d on %s rebuilt its dependencies", name, round+1, got)
			}
		}
	}
	// The home of the first project goes down: its sshd stops answering.
	project := "pooled-0"
	var home, other *poolHost
	for _, h := range pool {
		if h.name == homeOf[project] {
			home = h
		} else {
			other = h
		}
	}
	if err := home.bed.SignalSSHD("sshd-22", syscall.SIGSTOP, true); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = home.bed.SignalSSHD("sshd-22", syscall.SIGCONT, true)
		}
	}()
	waitHostState(t, s, home.name, false, 30*time.Second)
	r := deployTo(t, s, dirs[project])
	if got := holder(t, pool, r); got != other.name {
		t.Fatalf("with %s down the run built on %s", home.name, got)
	}
	log := s.storedLog(t, r.ID)
	if !strings.Contains(log, "docker host "+other.name+" ("+home.name+": down") {
		t.Fatalf("the log does not say which host and why:\n%s", log)
	}
	_, show, _ := s.jetway(t, context.Background(), t.TempDir(), "runs", "show", r.ID)
	if !strings.Contains(show, other.name+" ("+home.name+": down") {
		t.Fatalf("runs show:\n%s", show)
	}
	if err := home.bed.SignalSSHD("sshd-22", syscall.SIGCONT, true); err != nil {
		t.Fatal(err)
	}
	resumed = true
	waitHostState(t, s, home.name, true, 30*time.Second)
	r = deployTo(t, s, dirs[project])
	if got := holder(t, pool, r); got != home.name {
		t.Fatalf("with %s back the run built on %s", home.name, got)
	}

	// A silent partition of the home host: its link goes down inside its
	// namespace, so no RST reaches anyone.
	if out, err := exec.Command("ip", "-n", home.bed.NetNS, "link", "set", "dev", "jw"+home.bed.ID+"b", "down").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	took := waitHostState(t, s, home.name, false, 30*time.Second)
	t.Logf("the partition was noticed in %s", took.Round(100*time.Millisecond))
	r = deployTo(t, s, dirs[project])
	if got := holder(t, pool, r); got != other.name {
		t.Fatalf("with %s partitioned the run built on %s", home.name, got)
	}
}

// TestPoolGCKeepsTheCap: a host registered with --gc-max-used 300MB takes
// eight deploys that each add a new 60 MB layer; it ends with jetway's
// images and build cache within the cap, the newest image there, and the
// base image and an image jetway did not build untouched.
func TestPoolGCKeepsTheCap(t *testing.T) {
	s := startServerWith(t, t.TempDir(), freePort(t), 2, "--host-check-interval", "5s")
	pool := startPool(t, s, 1, "--gc-max-used", "300MB")
	h := pool[0]
	ctx := context.Background()
	if err := h.d.ImageTag(ctx, testbed.BaseImage, "somebody/else:1"); err != nil {
		t.Fatal(err)
	}
	dir := poolProject(t, "gc-cap", "ARG STAMP\nRUN head -c 60000000 /dev/urandom > /blob && echo $STAMP > /stamp\n")
	var last api.Run
	for i := range 8 {
		// A new STAMP each time: a new 60 MB layer.
		writeFiles(t, dir, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo dependencies > /deps\nRUN head -c 60000000 /dev/urandom > /blob && echo %d-%d > /stamp\nCOPY app.txt /app.txt\n", testbed.BaseImage, i, time.Now().UnixNano())})
		last = deployTo(t, s, dir)
	}
	du, err := h.d.DiskUsage(ctx, types.DiskUsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	for _, img := range du.Images {
		if img.Labels[hosts.LabelProject] != "" {
			used += img.Size - max(img.SharedSize, 0)
		}
	}
	for _, c := range du.BuildCache {
		if !c.Shared {
			used += c.Size
		}
	}
	// Slack: none. The cap is enforced after each run, and the images
	// kept (the newest 3, about 180 MB) are under it.
	if used > 300_000_000 {
		t.Fatalf("jetway's images and build cache use %s after 8 deploys, over the 300 MB cap", api.HumanBytes(used))
	}
	for _, ref := range []string{"gc-cap/app:" + last.ID, testbed.BaseImage, "somebody/else:1"} {
		if _, err := h.d.ImageInspect(ctx, ref); err != nil {
			t.Errorf("%s is gone: %v", ref, err)
		}
	}
	if len(last.Summary.GC) == 0 {
		t.Fatalf("the last run reports no GC")
	}
	code, out, _ := s.jetway(t, ctx, t.TempDir(), "hosts", "ls")
	if code != 0 || !strings.Contains(out, h.name) {
		t.Fatalf("hosts ls:\n%s", out)
	}
}
