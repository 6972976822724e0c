package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// syncBuffer is a log the server and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitHost polls host name until ok says its state is the one awaited,
// for at most within, and returns it with the time it took.
func waitHost(t *testing.T, c *apiclient.Client, name string, within time.Duration, what string, ok func(api.HostState) bool) (api.HostState, time.Duration) {
	t.Helper()
	start := time.Now()
	var h api.DockerHost
	for time.Since(start) < within {
		h = api.DockerHost{}
		if err := c.Do(context.Background(), http.MethodGet, "/v1/hosts/"+name, nil, nil, &h); err != nil {
			t.Fatal(err)
		}
		if h.State != nil && ok(*h.State) {
			return *h.State, time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("host %s not %s within %s: %+v", name, what, within, h.State)
	return api.HostState{}, 0
}

// The server checks a real Docker host over ssh, with the credentials it
// reads from its own parameter store: up with its sizes and free disk;
// down, with the reason, when its sshd freezes (no answer, no reset:
// noticed within the interval plus the check's 10 s timeout) and when it
// stops; up again in between. A run's spec passes over the host while it
// is down. GC runs by hand from the server. The credentials never reach
// the log, and no file of them outlives its check.
func TestHealthChecksOfARealHost(t *testing.T) {
	b := server.SharedBed(t)
	ctx := context.Background()
	const port = 2231
	sshd, err := b.StartSSHD(ctx, testbed.SSHDOptions{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.SignalSSHD(sshd, syscall.SIGCONT, true)
		_ = b.SignalSSHD(sshd, syscall.SIGKILL, true)
	})
	known, err := b.KnownHostsLines(port, true)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(b.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	const interval = time.Second
	// A change is seen within a check in flight (frozen mid-way, it takes
	// its whole 10 s timeout), the interval and the next check: under
	// 30 s with the default interval of 15 s.
	const within = 2*10*time.Second + interval + 4*time.Second
	var log syncBuffer
	dataDir := filepath.Join(t.TempDir(), "data")
	base, token := servertest.Start(t, server.Options{DataDir: dataDir, HostCheckInterval: interval,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := apiclient.New(base, token)
	for _, p := range []api.PutParamRequest{
		{Name: "/hosts/b1/key", Type: "SecureString", Value: string(key)},
		{Name: "/hosts/b1/known_hosts", Type: "String", Value: known},
	} {
		if err := c.Do(ctx, http.MethodPost, "/v1/params", nil, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	addHost(t, c, api.DockerHost{Name: "b1", URL: fmt.Sprintf("ssh://%s@%s:%d%s", b.SSHUser, b.RemoteIP, port, b.RemoteSocket), Pool: "warm",
		SSHKey: "SSM:/hosts/b1/key", KnownHosts: "SSM:/hosts/b1/known_hosts", GC: api.GCPolicy{KeepImages: 5}})
	up, _ := waitHost(t, c, "b1", within, "up with its sizes", func(st api.HostState) bool {
		return st.Up && st.ImagesBytes > 0 && st.DiskBytes > 0 && st.FreeBytes > 0
	})
	if up.Error != "" || up.Since.IsZero() || up.CheckedAt.Before(up.Since) || up.FreeBytes > up.DiskBytes {
		t.Fatalf("up: %+v", up)
	}
	t.Logf("up: images %s, build cache %s, free %s of %s", api.HumanBytes(up.ImagesBytes), api.HumanBytes(up.BuildCacheBytes), api.HumanBytes(up.FreeBytes), api.HumanBytes(up.DiskBytes))
	// It stays up, and its Since with it, check after check.
	again, _ := waitHost(t, c, "b1", within, "checked again", func(st api.HostState) bool { return st.CheckedAt.After(up.CheckedAt) })
	if !again.Up || !again.Since.Equal(up.Since) {
		t.Fatalf("checked again: %+v (was up since %s)", again, up.Since)
	}

	// GC by hand, from the server: a dry run first, then for real.
	var dry api.GCReport
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/b1/gc?dry_run=1", nil, nil, &dry); err != nil || !dry.DryRun || dry.Error != "" || dry.Reason != "by hand" || dry.At.IsZero() {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if h := listHosts(t, c)["b1"]; h.State.LastGC != nil {
		t.Fatalf("a dry run became the host's last GC: %+v", h.State.LastGC)
	}
	var real api.GCReport
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/b1/gc", nil, nil, &real); err != nil || real.DryRun || real.Error != "" || real.UsedAfter > real.UsedBefore {
		t.Fatalf("GC: %+v %v", real, err)
	}
	if h := listHosts(t, c)["b1"]; h.State.LastGC == nil || !h.State.LastGC.At.Equal(real.At) || h.State.LastGC.Reason != "by hand" {
		t.Fatalf("the host's last GC: %+v", h.State.LastGC)
	}

	// A silent partition: sshd frozen, connections accepted by the kernel
	// and never answered.
	if err := b.SignalSSHD(sshd, syscall.SIGSTOP, true); err != nil {
		t.Fatal(err)
	}
	down, took := waitHost(t, c, "b1", within, "down", func(st api.HostState) bool { return !st.Up })
	if down.Error == "" || !down.Since.After(up.Since) || down.ImagesBytes != again.ImagesBytes {
		t.Fatalf("frozen: %+v", down)
	}
	t.Logf("a frozen sshd was found down after %s: %s", took.Round(100*time.Millisecond), down.Error)
	// A run of the pool now has b1 only as a last resort, and knows why.
	run := queuePoolRun(t, base, token, "web", "warm", "Dockerfile")
	spec, err := runproto.NewRunClient(base, run.ID, leaseRun(t, base, token, run.ID), "").Spec(ctx)
	if err != nil || len(spec.DockerHost.Skipped) != 1 || !strings.HasPrefix(spec.DockerHost.Skipped[0].Reason, "down: ") || candidateNames(spec.DockerHost)[0] != "b1" {
		t.Fatalf("a run's host while b1 is down: %+v %v", spec.DockerHost, err)
	}

	if err := b.SignalSSHD(sshd, syscall.SIGCONT, true); err != nil {
		t.Fatal(err)
	}
	back, _ := waitHost(t, c, "b1", within, "up again", func(st api.HostState) bool { return st.Up })
	if back.Error != "" || !back.Since.After(down.Since) {
		t.Fatalf("up again: %+v", back)
	}

	// sshd stopped: refused, or reset.
	if err := b.SignalSSHD(sshd, syscall.SIGTERM, true); err != nil {
		t.Fatal(err)
	}
	stopped, took := waitHost(t, c, "b1", within, "down", func(st api.HostState) bool { return !st.Up })
	if !strings.Contains(stopped.Error, "cannot reach") || !stopped.Since.After(back.Since) {
		t.Fatalf("stopped: %+v", stopped)
	}
	t.Logf("a stopped sshd was found down after %s: %s", took.Round(100*time.Millisecond), stopped.Error)

	logged := log.String()
	for _, want := range []string{"docker host up", "docker host down"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log does not say %q:\n%s", want, logged)
		}
	}
	keyLine := strings.Split(strings.TrimSpace(string(key)), "\n")[1]
	if strings.Contains(logged, keyLine) || strings.Contains(down.Error+stopped.Error, keyLine) {
		t.Fatal("the host's private key reached the log or its state")
	}
	// A check's credentials live only while it connects.
	deadline := time.Now().Add(3 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(dataDir, "host-check-*"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("credential files outlive their checks: %q", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
