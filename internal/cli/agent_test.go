//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// agentWorkDir is a sandbox work dir for a test's agent; as root not under
// /tmp, which the sandbox refuses.
func agentWorkDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/var/lib", "jetway-cli-agent-test-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestAgentLifecycle creates an agent's token, runs `jetway agent` with it
// against a real server, sees it listed with its labels, and revokes it:
// the agent stops with the reason.
func TestAgentLifecycle(t *testing.T) {
	env := serverEnv(t)
	code, token, errOut := runJetway(t, env, "agents", "token", "create", "build-1", "--labels", "pool=builders")
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "jwa_") || strings.Contains(token, "\n") {
		t.Fatalf("token create: %d %q %s; want the token alone on stdout", code, token, errOut)
	}
	if !strings.Contains(errOut, "jetway agent --server URL --name build-1 --labels pool=builders") || strings.Contains(errOut, token) {
		t.Errorf("token create's hint: %s; want how to start the agent, without the token again", errOut)
	}
	if code, _, errOut := runJetway(t, env, "agents", "token", "create", "build-1"); code != ExitFailed || !strings.Contains(errOut, "exists") {
		t.Errorf("a second token create build-1: %d %s", code, errOut)
	}
	if code, out, errOut := runJetway(t, env, "agents", "ls"); code != 0 || !regexpMatch(`(?m)^build-1 +- +- +- +never +- +-$`, out) {
		t.Errorf("ls before the agent started: %d\n%s%s", code, out, errOut)
	}

	// The agent, with the token from the environment, and nothing of the
	// server's: no HOME holding its data dir, no API token.
	agentEnv := map[string]string{"HOME": t.TempDir(), "JETWAY_AGENT_TOKEN": token}
	var stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- Main(ctx, []string{"agent", "--server", env["JETWAY_SERVER"], "--name", "build-1", "--labels", "pool=builders",
			"--work-dir", agentWorkDir(t), "--log-dir", t.TempDir()},
			Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &stderr}, func(k string) string { return agentEnv[k] })
	}()
	var seen api.Agent
	for deadline := time.Now().Add(10 * time.Second); seen.LastSeen == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the agent never reached the server; its log:\n%s", stderr.String())
		}
		code, out, errOut := runJetway(t, env, "agents", "ls", "--json")
		var list []api.Agent
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
			t.Fatalf("ls --json: %d %s %s", code, out, errOut)
		}
		seen = list[0]
	}
	want := map[string]string{"arch": runtime.GOARCH, "os": "linux", "pool": "builders"}
	if seen.Name != "build-1" || !reflect.DeepEqual(seen.Labels, want) || seen.Concurrency != 1 || seen.Version == "" || seen.Address != "127.0.0.1" {
		t.Errorf("the server sees the agent as %+v", seen)
	}
	code, out, _ := runJetway(t, env, "agents", "ls")
	if code != 0 || !regexpMatch(`(?m)^build-1 +arch=`+runtime.GOARCH+`,os=linux,pool=builders +\S+ +127\.0\.0\.1 +(now|\ds ago) +0/1 +-$`, out) {
		t.Errorf("ls with the agent connected:\n%s", out)
	}

	code, out, errOut = runJetway(t, env, "agents", "revoke", "build-1")
	if code != 0 || out != "agent build-1 revoked; its running runs are cancelled\n" {
		t.Fatalf("revoke: %d %q %s", code, out, errOut)
	}
	select {
	case code := <-exited:
		if code != ExitUsage || !strings.Contains(stderr.String(), "revoked") {
			t.Errorf("the revoked agent exited %d; its log:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the revoked agent goes on; its log:\n%s", stderr.String())
	}
	if _, out, _ := runJetway(t, env, "agents", "ls"); !strings.Contains(out, "build-1 (revoked)") {
		t.Errorf("ls after the revocation:\n%s", out)
	}
	if code, _, errOut := runJetway(t, env, "agents", "revoke", "nobody"); code != ExitFailed || !strings.Contains(errOut, `no agent "nobody"`) {
		t.Errorf("revoke nobody: %d %s", code, errOut)
	}
}

func TestAgentUsageErrors(t *testing.T) {
	token := map[string]string{"JETWAY_AGENT_TOKEN": "jwa_x"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no server", nil, token, "--server: give the jetway server's URL"},
		{"not a URL", []string{"--server", "jetway.internal:7070"}, token, `--server "jetway.internal:7070": want a URL`},
		{"not a URL from the environment", nil, map[string]string{"JETWAY_AGENT_SERVER": "jetway.internal", "JETWAY_AGENT_TOKEN": "jwa_x"}, `--server "jetway.internal": want a URL`},
		{"an empty one of several", []string{"--server", "http://a:7070,,http://b:7070"}, token, `--server "": want a URL`},
		{"no token", []string{"--server", "http://a:7070"}, nil, "no agent token: set JETWAY_AGENT_TOKEN"},
		{"an API token", []string{"--server", "http://a:7070", "--token", "0123abcd"}, nil, "should start with jwa_"},
		{"a label without a value", []string{"--server", "http://a:7070", "--labels", "pool"}, token, `--labels "pool": want key=value`},
		{"a label with a space", []string{"--server", "http://a:7070", "--labels", "pool=big builders"}, token, `--labels "pool=big builders"`},
		{"concurrency 0", []string{"--server", "http://a:7070", "--concurrency", "0"}, token, "--concurrency 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"HOME": t.TempDir()}
			maps.Copy(env, tc.env)
			code, _, errOut := runJetway(t, env, append([]string{"agent"}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, %s; want %d and %q", code, errOut, ExitUsage, tc.want)
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{"arch": runtime.GOARCH, "os": runtime.GOOS}},
		{"pool=builders", map[string]string{"arch": runtime.GOARCH, "os": runtime.GOOS, "pool": "builders"}},
		{" pool=builders , arch=arm64", map[string]string{"arch": "arm64", "os": runtime.GOOS, "pool": "builders"}},
	} {
		got, err := parseLabels(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseLabels(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseServers(t *testing.T) {
	got, err := parseServers("http://a:7070/, https://b.example")
	if want := []string{"http://a:7070", "https://b.example"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseServers = %v, %v; want %v", got, err, want)
	}
}

func TestPrintAgents(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	agents := []api.Agent{
		{Name: "build-1", Labels: map[string]string{"pool": "builders", "arch": "amd64", "os": "linux"}, Version: "v0.4.0", Address: "10.0.0.7",
			Concurrency: 4, LastSeen: at(800 * time.Millisecond), Running: []string{"3f2a9c1b", "77d0e4aa"}},
		{Name: "build-2", Labels: map[string]string{"arch": "arm64", "os": "linux"}, Version: "v0.4.0", Address: "10.0.0.8",
			Concurrency: 2, LastSeen: at(3*time.Hour + 5*time.Minute)},
		{Name: "local", Labels: map[string]string{"arch": "amd64", "os": "linux"}, Version: "(devel)", Concurrency: 2, LastSeen: at(12 * time.Second)},
		{Name: "new-one"},
		{Name: "old", Revoked: true, Address: "10.0.0.9", Concurrency: 1, LastSeen: at(9 * 24 * time.Hour)},
	}
	var out bytes.Buffer
	must(t, printAgents(&out, agents, now))
	golden := filepath.Join("testdata", "agents-ls.golden")
	if *update {
		must(t, os.MkdirAll("testdata", 0o755))
		must(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	must(t, err)
	if out.String() != string(want) {
		t.Errorf("got:\n%s\nwant (%s; -update rewrites it):\n%s", out.String(), golden, want)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
