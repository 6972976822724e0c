package hosts

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/testbed"
)

var bed testbed.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	bed.Close()
	os.Exit(code)
}

// freshHost is a Docker host of its own on the bed's remote machine, so
// what GC counts is only what the test put there.
func freshHost(t *testing.T) (*client.Client, string) {
	t.Helper()
	b := bed.Get(t)
	socket, stop, err := b.FreshDocker(context.Background(), fmt.Sprintf("gc%d", time.Now().UnixNano()%100000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	c, err := testbed.LocalClient(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := testbed.ImportBaseImage(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c, socket
}

// buildLayer builds an image whose new layer is 60 MB of random bytes, as
// jetway's runner does (labelled) or as somebody else would (not).
func buildLayer(t *testing.T, socket, tag, project string) {
	t.Helper()
	dir := t.TempDir()
	df := fmt.Sprintf("FROM %s\nRUN head -c 60000000 /dev/urandom > /blob && echo %s %d > /id\n", testbed.BaseImage, tag, time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-H", "unix://" + socket, "build", "-q", "-t", tag}
	if project != "" {
		args = append(args, "--label", LabelProject+"="+project)
	}
	if out, err := exec.Command("docker", append(args, dir)...).CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
}

// TestCollectKeepsTheCapAndNeverTouchesForeignImages: eight builds of
// 60 MB each, collected after each with a 300 MB cap, end within the cap
// with the newest images there; the base image, an image jetway did not
// build and an image a container uses stay.
func TestCollectKeepsTheCapAndNeverTouchesForeignImages(t *testing.T) {
	c, socket := freshHost(t)
	ctx := context.Background()
	buildLayer(t, socket, "someone/else:1", "")
	buildLayer(t, socket, "web/app:pinned", "web")
	if out, err := exec.Command("docker", "-H", "unix://"+socket, "create", "--name", "uses-pinned", "web/app:pinned", "true").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	policy := api.GCPolicy{MaxUsed: 300 << 20, KeepImages: 3}
	var last api.GCReport
	for i := range 8 {
		buildLayer(t, socket, fmt.Sprintf("web/app:%d", i), "web")
		time.Sleep(1100 * time.Millisecond) // image creation times are in seconds
		r, err := Collect(ctx, c, policy, GCOptions{Reason: "after the run"})
		if err != nil {
			t.Fatalf("collect %d: %v", i, err)
		}
		last = r
	}
	u, err := measure(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if u.total() > policy.MaxUsed {
		t.Fatalf("after 8 builds jetway's images and cache use %s, over the cap (last report %+v)", api.HumanBytes(u.total()), last)
	}
	for _, ref := range []string{"web/app:7", "web/app:6", testbed.BaseImage, "someone/else:1", "web/app:pinned"} {
		if _, err := c.ImageInspect(ctx, ref); err != nil {
			t.Errorf("%s was removed: %v", ref, err)
		}
	}
	if _, err := c.ImageInspect(ctx, "web/app:0"); err == nil {
		t.Error("web/app:0, the oldest, is still there")
	}
	if last.UsedAfter > policy.MaxUsed || last.Reason != "after the run" {
		t.Fatalf("report %+v", last)
	}
}

// TestCollectWithinTheCapDoesNothing, and a dry run removes nothing but
// says what it would.
func TestCollectDryRunAndWithinTheCap(t *testing.T) {
	c, socket := freshHost(t)
	ctx := context.Background()
	for i := range 5 {
		buildLayer(t, socket, fmt.Sprintf("api/app:%d", i), "api")
		time.Sleep(1100 * time.Millisecond)
	}
	r, err := Collect(ctx, c, api.GCPolicy{MaxUsed: 10 << 30}, GCOptions{Reason: "before the build"})
	if err != nil || len(r.Images) != 0 || r.BuildCacheFreed != 0 {
		t.Fatalf("within the cap it collected: %+v %v", r, err)
	}
	r, err = Collect(ctx, c, api.GCPolicy{MaxUsed: 100 << 20, KeepImages: 1}, GCOptions{Reason: "by hand", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Images) != 4 || !strings.HasPrefix(r.Images[0], "api/app:0") || r.ImagesFreed < 4*60_000_000 {
		t.Fatalf("dry run: %+v", r)
	}
	list, err := c.ImageList(ctx, image.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, img := range list {
		if img.Labels[LabelProject] == "api" {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("the dry run removed images: %d left", n)
	}
}

// TestProbeAndDiskFree: over ssh the pool learns the host is up and how
// full its disk is (compared with df on the machine, which shares it);
// a host whose sshd is gone is down, with the reason.
func TestProbeAndDiskFree(t *testing.T) {
	b := bed.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := dockerhost.Open(ctx, dockerhost.Options{Host: b.DockerHostSSH(), Identities: []string{b.ClientKey}, KnownHosts: []string{b.KnownHosts}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	st := Probe(ctx, h)
	if !st.Up || st.DiskBytes <= 0 || st.FreeBytes <= 0 || st.FreeBytes > st.DiskBytes {
		t.Fatalf("probe: %+v", st)
	}
	out, err := exec.Command("df", "-Pk", "--", b.Dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	_, total, err := parseDF(out)
	if err != nil || total != st.DiskBytes {
		t.Fatalf("the disk is %d bytes by df here, %d by the probe (%v)", total, st.DiskBytes, err)
	}
	unreachable, err := dockerhost.Open(ctx, dockerhost.Options{Host: "ssh://root@127.0.0.1:1", Identities: []string{b.ClientKey}, KnownHosts: []string{b.KnownHosts}, Timeout: 2 * time.Second})
	if err == nil {
		defer unreachable.Close()
		if st := Probe(ctx, unreachable); st.Up || st.Error == "" {
			t.Fatalf("a host with nothing listening is up: %+v", st)
		}
	} else if !strings.Contains(err.Error(), "refused") {
		t.Fatalf("opening a host with nothing listening: %v", err)
	}
}

func TestParseDF(t *testing.T) {
	free, total, err := parseDF([]byte("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 40 60 40% /\n"))
	if err != nil || free != 60*1024 || total != 100*1024 {
		t.Fatalf("%d %d %v", free, total, err)
	}
	if _, _, err := parseDF([]byte("nonsense")); err == nil {
		t.Fatal("nonsense parsed")
	}
}
