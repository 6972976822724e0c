package runner

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/sandbox"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// The tests of this file are the attacks of the "Run isolation" issue,
// each made by a phase of a real run against the test bed.

var uidRE = regexp.MustCompile(`run user \S+ \(UID (\d+)\)`)

// runUID is the run user's UID, as the sandbox step logged it.
func runUID(t *testing.T, rec *recorder) int {
	t.Helper()
	m := uidRE.FindStringSubmatch(rec.text())
	if m == nil {
		t.Fatalf("no sandbox step in the log:\n%s", rec.text())
	}
	uid, _ := strconv.Atoi(m[1])
	return uid
}

// assertNothingLeft checks that a finished run left no sandbox, no user
// and no process.
func assertNothingLeft(t *testing.T, runID string, rec *recorder) {
	t.Helper()
	if matches, _ := filepath.Glob(filepath.Join("/var/lib/jetway-runs", "run-"+runID+"-*")); len(matches) > 0 {
		t.Fatalf("sandbox left: %v", matches)
	}
	uid := runUID(t, rec)
	if pids := sandbox.ProcessesOf(uid); len(pids) > 0 {
		t.Fatalf("processes of the run's UID %d remain: %v", uid, pids)
	}
	if data, _ := os.ReadFile("/etc/passwd"); bytes.Contains(data, []byte(fmt.Sprintf(":%d:", uid))) {
		t.Fatalf("the run user %d remains", uid)
	}
}

// A pre_build leaves a fork-hopper and a setsid'd sleeper behind: both die
// with the run, and the next run's user has another UID.
func TestLeftoverProcessesDieWithTheRun(t *testing.T) {
	h := newHarness(t)
	marker := fmt.Sprintf("hopper%d", os.Getpid())
	sleeper := fmt.Sprintf("600.%d", os.Getpid())
	project := h.projectFile("leftovers", fmt.Sprintf(`phases:
  pre_build:
    - python3 hopper.py %[1]s </dev/null >/dev/null 2>&1 &
    - setsid nohup sleep %[2]s </dev/null >/dev/null 2>&1 &
    - sleep 0.5; pgrep -f %[1]s >/dev/null && echo hopper is alive
`, marker, sleeper))
	hopper := "import os, time\nwhile True:\n    if os.fork():\n        os._exit(0)\n    time.sleep(0.0005)\n"
	dir := writeProject(t, map[string]string{"jetway.yaml": project, "hopper.py": hopper})
	s, rec := h.run(t, context.Background(), dir)
	if s.Status != string(Succeeded) || !strings.Contains(rec.text(), "hopper is alive") {
		t.Fatalf("summary %+v\n%s", s, rec.text())
	}
	for _, m := range []string{marker, sleeper} {
		if pids := testbed.ProcessesWith(m); len(pids) > 0 {
			t.Fatalf("processes with %q outlived the run: %v", m, pids)
		}
	}
	assertNothingLeft(t, s.RunID, rec)
	first := runUID(t, rec)
	s2, rec2 := h.run(t, context.Background(), writeProject(t, map[string]string{"jetway.yaml": h.projectFile("leftovers2", "phases:\n  build: [id -u]\n")}))
	if s2.Status != string(Succeeded) {
		t.Fatalf("second run: %+v\n%s", s2, rec2.text())
	}
	if second := runUID(t, rec2); second == first {
		t.Fatalf("the second run reused UID %d", first)
	}
}

// Files a run leaves in /tmp, /var/tmp and /dev/shm are neither on the
// machine afterwards nor visible to the next run.
func TestTmpDirsArePrivatePerRun(t *testing.T) {
	h := newHarness(t)
	name := fmt.Sprintf("jetway-left-%d", os.Getpid())
	write := h.projectFile("tmp-a", fmt.Sprintf("phases:\n  build: [\"echo a > /tmp/%[1]s && echo a > /var/tmp/%[1]s && echo a > /dev/shm/%[1]s && cat /tmp/%[1]s\"]\n", name))
	s, rec := h.run(t, context.Background(), writeProject(t, map[string]string{"jetway.yaml": write}))
	if s.Status != string(Succeeded) {
		t.Fatalf("%+v\n%s", s, rec.text())
	}
	for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			t.Errorf("%s/%s is on the machine after the run", d, name)
		}
	}
	read := h.projectFile("tmp-b", fmt.Sprintf("phases:\n  build: [\"cat /tmp/%[1]s || cat /var/tmp/%[1]s || cat /dev/shm/%[1]s || echo none-visible\"]\n", name))
	s, rec = h.run(t, context.Background(), writeProject(t, map[string]string{"jetway.yaml": read}))
	if s.Status != string(Succeeded) || !strings.Contains(rec.text(), "none-visible") {
		t.Fatalf("run B saw run A's files: %+v\n%s", s, rec.text())
	}
}

// From a phase, the server's data dir, the test's own process and the rest
// of the machine's processes are out of reach.
func TestPhaseCannotReachTheMachine(t *testing.T) {
	h := newHarness(t)
	// A data dir where operators put one (the harness's own lies in /tmp,
	// which the sandbox hides anyway).
	dataDir, err := os.MkdirTemp("/var/lib", "jetway-data-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dataDir)
	if err := os.WriteFile(filepath.Join(dataDir, "token"), []byte("jw_not-for-phases"), 0o600); err != nil {
		t.Fatal(err)
	}
	project := h.projectFile("reach", fmt.Sprintf(`phases:
  build:
    - cat %[1]s/token || echo data-dir-unreadable
    - cat %[2]s/token || echo harness-data-unreadable
    - cat /proc/%[3]d/environ || echo server-process-hidden
    - 'echo "processes=$(ls /proc | grep -c "^[0-9]")"' 
    - touch /var/lib/jetway-ro-test || echo read-only
`, dataDir, h.dataDir, os.Getpid()))
	s, rec := h.run(t, context.Background(), writeProject(t, map[string]string{"jetway.yaml": project}))
	text := rec.text()
	if s.Status != string(Succeeded) {
		t.Fatalf("%+v\n%s", s, text)
	}
	for _, want := range []string{"data-dir-unreadable", "harness-data-unreadable", "server-process-hidden", "read-only"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "jw_not-for-phases") {
		t.Fatal("a phase read the data dir")
	}
	m := regexp.MustCompile(`processes=(\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no process count:\n%s", text)
	}
	if n, _ := strconv.Atoi(m[1]); n > 6 {
		t.Fatalf("a phase sees %d processes, want only the run's", n)
	}
}

// A server's runner refuses this machine's own Docker daemon; `jetway run`
// (RefuseLocalDocker false) uses it.
func TestLocalDockerIsRefusedWhenAsked(t *testing.T) {
	h := newHarness(t)
	project := fmt.Sprintf("project: local\nenv:\n  vars:\n    DOCKER_HOST: unix://%s\nphases:\n  build: [echo ran]\n", h.bed.LocalSocket)
	dir := writeProject(t, map[string]string{"jetway.yaml": project})
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, refuse := range []bool{true, false} {
		rec := &recorder{}
		s := Run(context.Background(), Options{SourceDir: dir, Project: p, RunID: fmt.Sprintf("local%v", refuse), Sink: rec, RefuseLocalDocker: refuse,
			Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) { return nil, nil }})
		switch {
		case refuse && (s.ExitCode != ExitConfig || !strings.Contains(s.Error, "--allow-local-docker") || strings.Contains(rec.text(), "ran")):
			t.Fatalf("not refused: %+v\n%s", s, rec.text())
		case !refuse && s.Status != string(Succeeded):
			t.Fatalf("jetway run on the local daemon failed: %+v\n%s", s, rec.text())
		}
	}
}

// env.pass: ["*"] passes nothing of the deployer's tokens and keys; a
// token named exactly is passed, and masked.
func TestEnvPassNeverHandsOverTokens(t *testing.T) {
	h := newHarness(t)
	clientEnv := []string{"JETWAY_TOKEN=jw_deployer-token-1234", "AWS_SECRET_ACCESS_KEY=aws-secret-5678", "MY_API_TOKEN=my-api-token-9012", "BUNDLE_PATH=vendor/bundle"}
	for _, tc := range []struct {
		pass      string
		want      []string
		forbidden []string
	}{
		{`["*"]`, []string{"BUNDLE_PATH=vendor/bundle"}, []string{"jw_deployer-token-1234", "aws-secret-5678", "my-api-token-9012", "JETWAY_TOKEN=", "AWS_SECRET_ACCESS_KEY=", "MY_API_TOKEN="}},
		{`[MY_API_TOKEN, "/^JETWAY_.*/", "AWS_*"]`, []string{"MY_API_TOKEN=[MASKED]"}, []string{"jw_deployer-token-1234", "aws-secret-5678", "my-api-token-9012", "BUNDLE_PATH"}},
	} {
		project := strings.Replace(h.projectFile("pass", "phases:\n  build: [env]\n"), "  vars:\n", "  pass: "+tc.pass+"\n  vars:\n", 1)
		dir := writeProject(t, map[string]string{"jetway.yaml": project})
		p, err := config.Load(filepath.Join(dir, config.FileName))
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		s := Run(context.Background(), Options{SourceDir: dir, Project: p, RunID: "pass", Sink: rec, ClientEnv: clientEnv,
			Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
				return h.client.Resolve(ctx, "", refs)
			}})
		text := rec.text()
		if s.Status != string(Succeeded) {
			t.Fatalf("pass %s: %+v\n%s", tc.pass, s, text)
		}
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("pass %s: %q missing:\n%s", tc.pass, w, text)
			}
		}
		for _, f := range tc.forbidden {
			if strings.Contains(text, f) {
				t.Errorf("pass %s: %q reached the phase:\n%s", tc.pass, f, text)
			}
		}
	}
}

// limits: in jetway.yaml bound the phases' memory.
func TestMemoryLimitStopsAPhase(t *testing.T) {
	h := newHarness(t)
	project := h.projectFile("limits", "limits: {memory: 64m, pids: 64}\nphases:\n  build: [\"python3 -c 'b = b\\\"x\\\" * (200 << 20)' && echo survived\"]\n")
	s, rec := h.run(t, context.Background(), writeProject(t, map[string]string{"jetway.yaml": project}))
	if s.Status != string(Failed) || !strings.Contains(s.Error, "status 137") || strings.Contains(rec.text(), "log build  survived") {
		t.Fatalf("200 MB under a 64 MB limit: %+v\n%s", s, rec.text())
	}
}

func TestIsLocalDaemon(t *testing.T) {
	cases := map[string]bool{
		"": true, "unix:///var/run/docker.sock": true, "tcp://127.0.0.1:2375": true, "tcp://localhost:2375": true,
		"tcp://[::1]:2375": true, "tcp://localhost.:2375": true, "tcp://0.0.0.0:2375": true, "tcp://192.0.2.7:2376": false,
		"ssh://builder@127.0.0.1": false, "ssh://builder@docker.internal": false,
	}
	// An address of one of this machine's interfaces is this machine.
	if addrs, _ := net.InterfaceAddrs(); len(addrs) > 0 {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				cases["tcp://"+n.IP.String()+":2376"] = true
				break
			}
		}
	}
	for host, want := range cases {
		spec, err := dockerhost.ParseSpec(host, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := isLocalDaemon(context.Background(), spec); got != want {
			t.Errorf("%q: local %v, want %v", host, got, want)
		}
	}
}

// TestLocalDockerThroughSSHIsRefused: ssh:// to this machine (its
// loopback by address or name, IPv4-mapped IPv6, an address of one of its
// interfaces) leads through its sshd to its daemon; a server's runner
// refuses it on the address it dials, before connecting.
func TestLocalDockerThroughSSHIsRefused(t *testing.T) {
	h := newHarness(t)
	hosts := []string{"ssh://root@127.0.0.1/var/run/docker.sock", "ssh://root@localhost", "ssh://root@[::ffff:127.0.0.1]:22", "ssh://root@[::1]"}
	if own, err := net.InterfaceAddrs(); err == nil {
		for _, a := range own {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				hosts = append(hosts, "ssh://root@"+n.IP.String()+":2222")
				break
			}
		}
	}
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) {
			project := h.projectFile("local-ssh", "phases:\n  build: [echo ran]\n")
			project = strings.Replace(project, "DOCKER_HOST: "+h.bed.DockerHostSSH(), "DOCKER_HOST: "+host, 1)
			dir := writeProject(t, map[string]string{"jetway.yaml": project})
			p, err := config.Load(filepath.Join(dir, config.FileName))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			s := Run(context.Background(), Options{SourceDir: dir, Project: p, RunID: "localssh", Sink: rec, RefuseLocalDocker: true,
				Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
					return h.client.Resolve(ctx, "", refs)
				}})
			if s.ExitCode != ExitConfig || !strings.Contains(s.Error, "an address of this machine") || !strings.Contains(s.Error, "--allow-local-docker") || strings.Contains(rec.text(), "ran") {
				t.Fatalf("not refused: %d %s\n%s", s.ExitCode, s.Error, rec.text())
			}
		})
	}
}
