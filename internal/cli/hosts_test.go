//go:build linux

package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// quietServerEnv is serverEnv with a server that never checks its hosts,
// so that what they show is what the test did.
func quietServerEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{"HOME": t.TempDir()}
	c := &CLI{Getenv: func(k string) string { return env[k] }}
	url, _ := servertest.Start(t, server.Options{DataDir: c.DefaultDataDir(), HostCheckInterval: -1})
	env["JETWAY_SERVER"] = url
	return env
}

// TestHostsCommands adds, lists, shows, changes, drains and removes hosts
// on a real server: flags not given keep their value, sizes and
// percentages are read as written, and what the server would refuse is
// refused before, in the CLI's words, or after, in the server's.
func TestHostsCommands(t *testing.T) {
	env := quietServerEnv(t)
	if code, out, errOut := runJetway(t, env, "hosts", "ls"); code != 0 || !strings.Contains(out, "no Docker hosts; add one with jetway hosts add") {
		t.Fatalf("ls with none: %d %s %s", code, out, errOut)
	}
	add := []string{"hosts", "add", "b1", "--url", "ssh://builder@b1.internal", "--pool", "warm", "--ssh-key", "SSM:/hosts/b1/key", "--known-hosts", "SSM:/hosts/known_hosts"}
	for _, bad := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"hosts", "add", "b1", "--pool", "warm"}, ExitUsage, "give --url and --pool"},
		{[]string{"hosts", "add", "B1", "--url", "ssh://b@h", "--pool", "warm"}, ExitUsage, `host name "B1": use lower-case letters, digits and -`},
		{append(add, "--gc-max-used", "3XB"), ExitUsage, `--gc-max-used "3XB": give a size such as 300MB`},
		{append(add, "--gc-min-free", "150%"), ExitUsage, `--gc-min-free "150%": give a percentage from 0 to under 100`},
		{append(add, "--max-builds", "-1"), ExitUsage, "--max-builds -1"},
		{[]string{"hosts", "set", "b1"}, ExitUsage, "give a setting to change (--url, --pool,"},
		{[]string{"hosts", "drain"}, ExitUsage, "jetway hosts drain takes NAME (got 0 arguments)"},
		// The server's own checks, as it words them.
		{[]string{"hosts", "add", "b1", "--url", "ssh://builder@b1.internal", "--pool", "warm", "--ssh-key", "/home/me/.ssh/id_ed25519", "--known-hosts", "SSM:/k"},
			ExitFailed, "--ssh-key is not a reference: the server stores references, never values"},
		{[]string{"hosts", "add", "l1", "--url", "unix:///var/run/docker.sock", "--pool", "warm"}, ExitFailed, "--allow-local-docker"},
		{[]string{"hosts", "set", "nope", "--pool", "warm"}, ExitFailed, `no Docker host "nope"`},
	} {
		code, out, errOut := runJetway(t, env, bad.args...)
		if code != bad.code || !strings.Contains(errOut, bad.want) || out != "" {
			t.Errorf("%q: %d %q %s, want exit %d saying %q", bad.args, code, out, errOut, bad.code, bad.want)
		}
	}
	code, out, errOut := runJetway(t, env, append(add, "--max-builds", "2", "--gc-max-used", "300MB", "--gc-min-free", "10%", "--gc-keep-images", "5")...)
	if code != 0 || !regexpMatch(`(?m)^gc policy +images \+ build cache ≤ 286\.1 MiB; free disk ≥ 10%; keep 5 images per project$`, out) ||
		!regexpMatch(`(?m)^state +not checked yet$`, out) || !regexpMatch(`(?m)^max builds +2 \(building now: 0\)$`, out) || !regexpMatch(`(?m)^ssh key +SSM:/hosts/b1/key$`, out) {
		t.Fatalf("add: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runJetway(t, env, add...); code != ExitFailed || !strings.Contains(errOut, "exists already; change it with jetway hosts set b1") {
		t.Fatalf("add again: %d %s", code, errOut)
	}
	if code, out, errOut := runJetway(t, env, "hosts", "add", "t1", "--url", "tcp://t1.internal:2376", "--pool", "warm", "--tls-ca", "SSM:/tls/ca",
		"--tls-cert", "SSM:/tls/cert", "--tls-key", "SECRET:tls:key", "--gc-min-free", "20GiB"); code != 0 || !regexpMatch(`(?m)^gc policy +free disk ≥ 20\.0 GiB; keep 3 images per project$`, out) {
		t.Fatalf("add t1: %d\n%s%s", code, out, errOut)
	}
	// Flags not given keep their value; a new minimum replaces the old.
	code, out, errOut = runJetway(t, env, "hosts", "set", "b1", "--max-builds", "0", "--gc-min-free", "20GB")
	if code != 0 || !regexpMatch(`(?m)^gc policy +images \+ build cache ≤ 286\.1 MiB; free disk ≥ 18\.6 GiB; keep 5 images per project$`, out) ||
		!regexpMatch(`(?m)^max builds +no bound`, out) || !regexpMatch(`(?m)^pool +warm$`, out) || !regexpMatch(`(?m)^known hosts +SSM:/hosts/known_hosts$`, out) {
		t.Fatalf("set: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runJetway(t, env, "hosts", "drain", "b1"); code != 0 || out != "host b1 is draining: no new run is given it; 0 runs building there now\n" {
		t.Fatalf("drain: %d %q %s", code, out, errOut)
	}
	code, out, _ = runJetway(t, env, "hosts", "ls")
	if code != 0 || !regexpMatch(`(?m)^NAME +POOL +URL +STATE +FREE +IMAGES +BUILD CACHE +BUILDS +HOME OF +LAST GC$`, out) ||
		!regexpMatch(`(?m)^b1 +warm +ssh://builder@b1\.internal +draining, not checked yet +- +- +- +0 +- +-$`, out) ||
		!regexpMatch(`(?m)^t1 +warm +tcp://t1\.internal:2376 +not checked yet +`, out) {
		t.Fatalf("ls:\n%s", out)
	}
	if code, out, _ := runJetway(t, env, "hosts", "drain", "b1", "--undo"); code != 0 || out != "host b1 takes runs again\n" {
		t.Fatalf("drain --undo: %d %q", code, out)
	}
	var list []api.DockerHost
	code, out, _ = runJetway(t, env, "hosts", "ls", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0].Name != "b1" || list[0].Draining || list[0].GC.MinFree != 20e9 || list[0].GC.MinFreePercent != 0 ||
		list[1].TLSKey != "SECRET:tls:key" || list[1].GC.MinFree != 20<<30 {
		t.Fatalf("ls --json: %d %s", code, out)
	}
	var h api.DockerHost
	if code, out, _ := runJetway(t, env, "hosts", "show", "t1", "--json"); code != 0 || json.Unmarshal([]byte(out), &h) != nil || h.URL != "tcp://t1.internal:2376" {
		t.Fatalf("show --json: %d %s", code, out)
	}
	// The server cannot reach t1: GC by hand says so.
	if code, _, errOut := runJetway(t, env, "hosts", "gc", "t1", "--dry-run"); code != ExitFailed || !strings.Contains(errOut, "collecting host t1: docker host t1:") {
		t.Fatalf("gc of a host the server cannot reach: %d %s", code, errOut)
	}
	if code, out, _ := runJetway(t, env, "hosts", "rm", "b1"); code != 0 || out != "host b1 removed\n" {
		t.Fatalf("rm: %d %q", code, out)
	}
	if code, _, errOut := runJetway(t, env, "hosts", "rm", "b1"); code != ExitFailed || !strings.Contains(errOut, `no Docker host "b1"`) {
		t.Fatalf("rm again: %d %s", code, errOut)
	}
	// Without the API token the server refuses, and the CLI says which token.
	noToken := map[string]string{"HOME": t.TempDir(), "JETWAY_SERVER": env["JETWAY_SERVER"]}
	if code, _, errOut := runJetway(t, noToken, "hosts", "ls"); code != ExitFailed || !strings.Contains(errOut, "refused the API token") {
		t.Fatalf("ls without the token: %d %s", code, errOut)
	}
}

// GC by hand reaches a real host through the server, with the
// credentials the server reads from its parameter store.
func TestHostsGCOnARealHost(t *testing.T) {
	b := bed.Get(t)
	env := quietServerEnv(t)
	known := filepath.Join(t.TempDir(), "known_hosts")
	data, err := os.ReadFile(b.KnownHosts)
	must(t, err)
	must(t, os.WriteFile(known, data, 0o600))
	for _, args := range [][]string{
		{"params", "put", "/hosts/b1/key", "--type", "SecureString", "--value-file", b.ClientKey},
		{"params", "put", "/hosts/b1/known_hosts", "--value-file", known},
		{"hosts", "add", "b1", "--url", b.DockerHostSSH(), "--pool", "warm", "--ssh-key", "SSM:/hosts/b1/key", "--known-hosts", "SSM:/hosts/b1/known_hosts"},
	} {
		if code, out, errOut := runJetway(t, env, args...); code != 0 {
			t.Fatalf("%q: %d %s %s", args, code, out, errOut)
		}
	}
	code, out, errOut := runJetway(t, env, "hosts", "gc", "b1", "--dry-run")
	if code != 0 || !regexpMatch(`^gc of b1 \(by hand, dry run\) in `, out) || !regexpMatch(`(?m)^  images: would remove \d+, would free `, out) ||
		!regexpMatch(`(?m)^  jetway's images \+ build cache: .+ before, .+ after$`, out) {
		t.Fatalf("gc --dry-run: %d\n%s%s", code, out, errOut)
	}
	// A dry run is not the host's last GC.
	if _, out, _ := runJetway(t, env, "hosts", "show", "b1"); !regexpMatch(`(?m)^last gc +-$`, out) {
		t.Fatalf("show after a dry run:\n%s", out)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"300MB", 300e6, false},
		{"300mb", 300e6, false},
		{"10GiB", 10 << 30, false},
		{"1.5GB", 15e8, false},
		{"40 GiB", 40 << 30, false},
		{"300M", 300e6, false},
		{"-1GB", 0, true},
		{"ten", 0, true},
		{"3XB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize("--gc-max-used", tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("%d %v, want %d (error %v)", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestPrintHosts(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	list := []api.DockerHost{
		{Name: "b1", Pool: "warm", URL: "ssh://builder@b1.internal", MaxBuilds: 2, State: &api.HostState{Up: true, Since: now.Add(-3 * time.Hour), CheckedAt: now.Add(-2 * time.Second),
			FreeBytes: 40 << 30, DiskBytes: 100 << 30, ImagesBytes: 3 << 30, BuildCacheBytes: 1 << 30, Builds: 1, Home: 4, HomeProjects: []string{"api", "shop", "web", "worker"},
			LastGC: &api.GCReport{At: now.Add(-5 * time.Minute), Reason: "after the run", ImagesFreed: 60 << 20, BuildCacheFreed: 4 << 20}}},
		{Name: "b2", Pool: "warm", URL: "ssh://builder@b2.internal", Draining: true, State: &api.HostState{Since: now.Add(-40 * time.Second), CheckedAt: now.Add(-time.Second),
			Error: "cannot reach b2.internal:22: connection refused", ImagesBytes: 1 << 30, HomeProjects: []string{"blog"}, Home: 1}},
		{Name: "t1", Pool: "cold", URL: "tcp://t1.internal:2376", State: &api.HostState{}},
	}
	var out bytes.Buffer
	must(t, printHosts(&out, list, now))
	golden := filepath.Join("testdata", "hosts-ls.golden")
	if *update {
		must(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	must(t, err)
	if out.String() != string(want) {
		t.Errorf("got:\n%s\nwant (%s; -update rewrites it):\n%s", out.String(), golden, want)
	}
}

// jetway runs show names the pool's host a run built on, and why not on
// those before it.
func TestRunsShowDockerHost(t *testing.T) {
	for _, tt := range []struct {
		name    string
		summary *api.Summary
		want    string
	}{
		{"failed over", &api.Summary{DockerHostName: "b2", DockerHostChoice: "b2 (b1: down: connection refused)"}, "b2 (b1: down: connection refused)"},
		{"name only", &api.Summary{DockerHostName: "b1"}, "b1"},
		{"outside a pool", &api.Summary{}, ""},
		{"no summary yet", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			printRun(&CLI{Streams: Streams{Out: &out}}, api.Run{Status: api.StatusSucceeded, Summary: tt.summary})
			line := regexpMatch(`(?m)^docker host +`+regexp.QuoteMeta(tt.want)+`$`, out.String())
			if tt.want != "" && !line || tt.want == "" && strings.Contains(out.String(), "docker host ") {
				t.Fatalf("got:\n%s\nwant docker host %q", out.String(), tt.want)
			}
		})
	}
}
