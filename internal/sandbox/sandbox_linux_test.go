package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/testbed"
)

func TestMain(m *testing.M) {
	RunInitIfAsked()
	runCrashingRunnerIfAsked()
	os.Exit(m.Run())
}

// needRoot skips without root, except on CI, where every test must run.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("sandbox tests need root on CI")
		}
		t.Skip("sandbox tests need root")
	}
}

// testConfig uses a work dir of the test's own (not under /tmp, which every
// sandbox hides behind its tmpfs).
func testConfig(t *testing.T) Config {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", "jetway-sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return Config{WorkDir: dir}
}

func create(t *testing.T, cfg Config, limits Limits) *Sandbox {
	t.Helper()
	sb, err := Create(context.Background(), cfg, "t", limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Remove(context.Background()) })
	return sb
}

// sh runs a shell script in the sandbox and returns its output.
func sh(t *testing.T, sb *Sandbox, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := sb.Command(ctx, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + sb.Home}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err := cmd.Run()
	return out.String(), err
}

func TestCommandRunsAsTheRunUserInTheWorkspace(t *testing.T) {
	needRoot(t)
	sb := create(t, testConfig(t), Limits{})
	out, err := sh(t, sb, "id -u; id -g; id -G; pwd; touch made-here")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := fmt.Sprintf("%d\n%d\n%d\n%s\n", sb.UID, sb.GID, sb.GID, sb.Workspace)
	if out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	if sb.UID < DefaultUIDs.First || sb.UID > DefaultUIDs.Last {
		t.Fatalf("UID %d outside %s", sb.UID, DefaultUIDs)
	}
	fi, err := os.Stat(filepath.Join(sb.Workspace, "made-here"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(sb.UID) {
		t.Fatalf("file made in the workspace: %v %v", fi, err)
	}
}

// The attack: a phase leaves a fork-hopper and a setsid'd sleeper behind.
// Nothing of the run may outlive it, and the next run gets another UID.
func TestNoProcessOutlivesTheSandbox(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	sb := create(t, cfg, Limits{})
	marker := "jetway-hopper-" + strconv.Itoa(os.Getpid())
	hopper := `import os, sys, time
while True:
    if os.fork():
        os._exit(0)
    time.sleep(0.0005)`
	script := fmt.Sprintf(`python3 -c '%s' %s </dev/null >/dev/null 2>&1 &
setsid nohup sleep 600.%d </dev/null >/dev/null 2>&1 &
sleep 0.3; echo started`, hopper, marker, os.Getpid())
	if out, err := sh(t, sb, script); err != nil || !strings.Contains(out, "started") {
		t.Fatalf("%v: %s", err, out)
	}
	if len(ProcessesOf(sb.UID)) == 0 {
		t.Fatal("the test's processes did not start")
	}
	uid := sb.UID
	if err := sb.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pids := ProcessesOf(uid); len(pids) != 0 {
		t.Fatalf("processes of UID %d outlived the sandbox: %v", uid, pids)
	}
	for _, m := range []string{marker, fmt.Sprintf("600.%d", os.Getpid())} {
		if pids := testbed.ProcessesWith(m); len(pids) != 0 {
			t.Fatalf("processes with %q outlived the sandbox: %v", m, pids)
		}
	}
	if userExists(uid) {
		t.Fatalf("user %d left behind", uid)
	}
	next := create(t, cfg, Limits{})
	if next.UID == uid {
		t.Fatalf("the next sandbox reused UID %d", uid)
	}
}

func TestPrivateTmpDirs(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	a, b := create(t, cfg, Limits{}), create(t, cfg, Limits{})
	name := fmt.Sprintf("jetway-private-%d", os.Getpid())
	write := ""
	for _, d := range privateDirs {
		write += fmt.Sprintf("echo a > %s/%s && ", d, name)
	}
	if out, err := sh(t, a, write+"cat /tmp/"+name); err != nil || out != "a\n" {
		t.Fatalf("run A could not use its tmp dirs: %v: %s", err, out)
	}
	for _, d := range privateDirs {
		p := filepath.Join(d, name)
		if out, err := sh(t, b, "cat "+p); err == nil {
			t.Fatalf("run B read run A's %s: %s", p, out)
		}
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("run A's %s is on the machine", p)
		}
	}
}

func TestTheMachineIsHidden(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	a, b := create(t, cfg, Limits{}), create(t, cfg, Limits{})
	secretDir := filepath.Join(cfg.WorkDir, "data")
	if err := os.Mkdir(secretDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secretDir, "token"), []byte("jw_secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Workspace, "other"), []byte("other run"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, script := range map[string]string{
		"data dir":             "cat " + filepath.Join(secretDir, "token"),
		"another run":          "cat " + filepath.Join(b.Workspace, "other"),
		"the test's process":   fmt.Sprintf("cat /proc/%d/cmdline", os.Getpid()),
		"a world-writable dir": "touch /run/lock/jetway-ro-test",
		"set-uid":              "test -u /usr/bin/su && su -c true root </dev/null",
	} {
		if out, err := sh(t, a, script); err == nil {
			t.Errorf("%s reachable: %q", name, out)
		}
	}
	out, err := sh(t, a, "ls /proc | grep -c '^[0-9]'")
	if err != nil {
		t.Fatal(err)
	}
	// The init, sh, ls and grep.
	if n, _ := strconv.Atoi(strings.TrimSpace(out)); n > 5 {
		t.Fatalf("/proc shows %d processes, want only the run's", n)
	}
}

func TestLimits(t *testing.T) {
	needRoot(t)
	sb := create(t, testConfig(t), Limits{PIDs: 20, MemoryBytes: 64 << 20})
	if len(sb.Notes) > 0 {
		t.Fatalf("limits not applied: %v", sb.Notes)
	}
	out, err := sh(t, sb, `for i in $(seq 40); do sleep 3 & done 2>&1; echo done`)
	if err == nil && !strings.Contains(out, "fork") && !strings.Contains(out, "resource") {
		t.Fatalf("40 processes started under pids: 20: %s", out)
	}
	if out, err := sh(t, sb, `python3 -c 'b = b"x" * (200 << 20)' && echo survived`); err == nil && strings.Contains(out, "survived") {
		t.Fatalf("200 MB held under a 64 MB limit: %s", out)
	}
}

// A runner killed with SIGKILL leaves its sandbox; the next start sweeps it.
func TestSweepRemovesWhatADeadRunnerLeft(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	sb := create(t, cfg, Limits{PIDs: 50})
	if out, err := sh(t, sb, "setsid nohup sleep 600 </dev/null >/dev/null 2>&1 & echo ok"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// What dies with a runner: its lock, and (Pdeathsig) its init, which
	// takes the run's processes with it. Nothing else is cleaned up.
	sb.lock.Close()
	_ = sb.init.Process.Kill()
	_ = sb.init.Wait()
	if err := Sweep(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sb.Dir); !os.IsNotExist(err) {
		t.Fatalf("sandbox dir left: %v", err)
	}
	if userExists(sb.UID) {
		t.Fatal("run user left")
	}
	if cg := existingCgroups(filepath.Base(sb.Dir)); len(cg) > 0 {
		t.Fatalf("cgroups left: %v", cg)
	}
	// A live sandbox is left alone.
	live := create(t, cfg, Limits{})
	if err := Sweep(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if out, err := sh(t, live, "echo alive"); err != nil || out != "alive\n" {
		t.Fatalf("sweep harmed a live sandbox: %v %q", err, out)
	}
}

func TestParseUIDRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want UIDRange
		ok   bool
	}{
		{"200000-299999", UIDRange{200000, 299999}, true},
		{" 5000 - 5000 ", UIDRange{5000, 5000}, true},
		{"0-100", UIDRange{}, false},
		{"300-200", UIDRange{}, false},
		{"200000", UIDRange{}, false},
		{"a-b", UIDRange{}, false},
	} {
		got, err := ParseUIDRange(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
	}
}

func TestWorkDirUnderTmpIsRefused(t *testing.T) {
	needRoot(t)
	_, err := Create(context.Background(), Config{WorkDir: "/tmp/jetway-work"}, "t", Limits{})
	if err == nil || !strings.Contains(err.Error(), "tmpfs") {
		t.Fatalf("got %v", err)
	}
}

// A descriptor the runner inherited without close-on-exec (say, from the
// shell that started the server) must not reach the run.
func TestInheritedDescriptorsDoNotReachTheRun(t *testing.T) {
	needRoot(t)
	secret := filepath.Join(t.TempDir(), "root-only")
	if err := os.WriteFile(secret, []byte("root-only-bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(secret, syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	sb := create(t, testConfig(t), Limits{})
	out, err := sh(t, sb, fmt.Sprintf("cat <&%d", fd))
	if err == nil || strings.Contains(out, "root-only-bytes") {
		t.Fatalf("the run read descriptor %d: %q", fd, out)
	}
}

// A phase can write ~/.ssh/authorized_keys in its passwd home; logging in
// through the machine's sshd (outside the namespaces, on the host's /tmp)
// must still be refused.
func TestTheRunUserCannotLogIn(t *testing.T) {
	needRoot(t)
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host")},
		{"-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "user")},
	} {
		if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	sb := create(t, testConfig(t), Limits{})
	pub, _ := os.ReadFile(filepath.Join(dir, "user.pub"))
	if out, err := sh(t, sb, fmt.Sprintf("mkdir -p ~/.ssh && echo '%s' > ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys", strings.TrimSpace(string(pub)))); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nUsePAM yes\nPubkeyAuthentication yes\nPasswordAuthentication no\n",
		port, filepath.Join(dir, "host"), filepath.Join(dir, "sshd.pid"))), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll("/run/sshd", 0o755)
	daemon := exec.Command(sshd, "-D", "-e", "-f", cfg)
	var log bytes.Buffer
	daemon.Stderr = &log
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = daemon.Process.Kill(); _ = daemon.Wait() }()
	var out []byte
	for range 50 {
		out, err = exec.Command("ssh", "-i", filepath.Join(dir, "user"), "-p", strconv.Itoa(port), "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", sb.User+"@127.0.0.1", "echo logged-in").CombinedOutput()
		if !strings.Contains(string(out), "Connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err == nil || strings.Contains(string(out), "logged-in") {
		t.Fatalf("the run user logged in through sshd: %s\nsshd: %s", out, log.String())
	}
}

func TestLimitsWithin(t *testing.T) {
	max := Limits{MemoryBytes: 1 << 30, PIDs: 100, CPUs: 2}
	for _, tc := range []struct{ asked, want Limits }{
		{Limits{}, max}, // none asked: the operator's
		{Limits{MemoryBytes: 4 << 30, PIDs: 1000, CPUs: 8}, max},                                                   // more: capped
		{Limits{MemoryBytes: 256 << 20, PIDs: 10, CPUs: 0.5}, Limits{MemoryBytes: 256 << 20, PIDs: 10, CPUs: 0.5}}, // less: kept
	} {
		if got := tc.asked.Within(max); got != tc.want {
			t.Errorf("%+v within %+v = %+v, want %+v", tc.asked, max, got, tc.want)
		}
	}
	if got := (Limits{PIDs: 7}).Within(Limits{}); got != (Limits{PIDs: 7}) {
		t.Errorf("no operator limits: %+v", got)
	}
}

// TestOperatorLimitsBoundAForkStorm: a run that asks for no limits gets
// the machine's; a fork storm stops at its pids, and its CPU quota is set.
func TestOperatorLimitsBoundAForkStorm(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.MaxLimits = Limits{PIDs: 30, CPUs: 0.5}
	sb := create(t, cfg, Limits{})
	if sb.Limits != cfg.MaxLimits || len(sb.Notes) > 0 {
		t.Fatalf("limits %+v, notes %v", sb.Limits, sb.Notes)
	}
	storm := sb.Command(context.Background(), "/bin/sh", "-c", `for i in $(seq 100); do sleep 5 & done 2>/dev/null; wait`)
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	defer storm.Wait()
	time.Sleep(1500 * time.Millisecond)
	// What the kernel counts in the run's pids cgroup, read from outside.
	current := -1
	for _, dir := range sb.cgroups {
		if b, err := os.ReadFile(filepath.Join(dir, "pids.current")); err == nil {
			current, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	if current < 20 || current > 30 {
		t.Fatalf("a fork storm of 100 under the machine's pids 30: %d processes in the run's cgroup", current)
	}
	var quota string
	for _, dir := range sb.cgroups {
		if b, err := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us")); err == nil {
			quota = strings.TrimSpace(string(b))
		}
		if b, err := os.ReadFile(filepath.Join(dir, "cpu.max")); err == nil {
			quota = strings.Fields(string(b))[0]
		}
	}
	if quota != "50000" {
		t.Fatalf("the CPU quota is %q, want 50000 of 100000", quota)
	}
}

// The run user is named only inside its run: there its passwd entry gives
// the run's home and a shell that refuses logins, and the run cannot
// change it; the machine has no such account.
func TestTheRunUserIsTheRunsOnly(t *testing.T) {
	needRoot(t)
	sb := create(t, testConfig(t), Limits{})
	out, err := sh(t, sb, "id -un; id -gn; getent passwd $(id -u)")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := fmt.Sprintf("%s\n%s\n%s:x:%d:%d:jetway run in %s:%s:%s\n", sb.User, sb.User, sb.User, sb.UID, sb.GID, sb.Dir, sb.Home, nologinShell())
	if out != want {
		t.Fatalf("inside the run: got %q, want %q", out, want)
	}
	if out, err := sh(t, sb, "echo x:x:0:0::/:/bin/sh >> /etc/passwd || echo refused"); err != nil || !strings.Contains(out, "refused") {
		t.Fatalf("the run changed its /etc/passwd: %v %q", err, out)
	}
	machine, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(machine), sb.User+":") {
		t.Fatalf("the machine's /etc/passwd names %s", sb.User)
	}
}

// Two work dirs sharing a UID range (two agents of one machine) never
// get the same UID, even while a run has no process.
func TestSharedRangeNeverSharesAUID(t *testing.T) {
	needRoot(t)
	a, b := testConfig(t), testConfig(t)
	a.UIDs = UIDRange{First: 299990, Last: 299991}
	b.UIDs = a.UIDs
	first := create(t, a, Limits{})
	second := create(t, b, Limits{})
	if first.UID == second.UID {
		t.Fatalf("both sandboxes got UID %d", first.UID)
	}
	if _, err := Create(context.Background(), b, "t", Limits{}); err == nil || !strings.Contains(err.Error(), "no free UID") {
		t.Fatalf("a third sandbox in a range of two: %v", err)
	}
	uid := first.UID
	if err := first.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if leased(uid) {
		t.Fatalf("UID %d still leased after its sandbox was removed", uid)
	}
}
