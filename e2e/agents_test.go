package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/sandbox"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// The "Runner agents" issue through real processes: a server that executes
// nothing itself, listening on the host's end of a veth; an agent on
// "another machine" (a network namespace of its own, which reaches the
// server and the bed's remote Docker host only over that veth); a second
// agent on this machine. Each test has its own namespace, server, agents,
// work dirs and run users, and removes them all.

// agentsBed is one test's control plane: the server on the host's end of
// the machine's veth, with the bed's ssh Docker host in its parameters.
type agentsBed struct {
	b     *testbed.Bed
	m     *testbed.Machine
	s     *serverProc
	addr  string   // the server's host:port
	flags []string // the server's flags, for a restart
	// leaseTimeout is the server's: how long a silent agent keeps its runs.
	leaseTimeout time.Duration
}

func newAgentsBed(t *testing.T) *agentsBed {
	t.Helper()
	b := bed.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := b.NewMachine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("removing the agent's machine: %v", err)
		}
	})
	e := &agentsBed{b: b, m: m, addr: net.JoinHostPort(m.HostIP, "7070")}
	// A short lease timeout, so that lost agents are found quickly.
	e.flags, e.leaseTimeout = []string{"--lease-timeout", "5s"}, 5*time.Second
	e.s = startServerOn(t, t.TempDir(), e.addr, e.flags...)
	key, err := os.ReadFile(b.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	known, err := os.ReadFile(b.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	e.s.putParam(t, "/agents/DOCKER_HOST", "String", b.DockerHostSSH())
	e.s.putParam(t, "/agents/JETS_SSH_KEY", "SecureString", string(key))
	e.s.putParam(t, "/agents/JETS_SSH_KNOWN", "SecureString", string(known))
	return e
}

// startServerOn runs `jetway server` on addr with no runs of its own:
// --concurrency 0, agents execute them.
func startServerOn(t *testing.T, home, addr string, flags ...string) *serverProc {
	t.Helper()
	s := &serverProc{t: t, URL: "http://" + addr, Home: home, DataDir: filepath.Join(home, ".local", "share", "jetway"), log: &syncBuffer{}}
	s.cmd = exec.Command(jetwayBinary(t), append([]string{"server", "--listen", addr, "--concurrency", "0"}, flags...)...)
	s.cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	client := &http.Client{Timeout: time.Second}
	for range 400 {
		if resp, err := client.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the server did not start on %s:\n%s", addr, s.log.String())
	return nil
}

// killServer kills the server with SIGKILL and starts it again on the same
// data dir and address.
func (e *agentsBed) killServer(t *testing.T) {
	t.Helper()
	if err := e.s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = e.s.cmd.Wait()
	killed := e.s.log
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the killed server's output:\n%s", killed.String())
		}
	})
}

func (e *agentsBed) restartServer(t *testing.T) {
	t.Helper()
	e.s = startServerOn(t, e.s.Home, e.addr, e.flags...)
}

// project writes a project whose runs go to agents with the labels
// runsOn (YAML flow map) and use the bed's remote Docker host over ssh
// (remote), or this machine's local daemon.
func (e *agentsBed) project(t *testing.T, name, runsOn string, remote bool, phase string) string {
	t.Helper()
	vars := "DOCKER_HOST: unix://" + e.b.LocalSocket
	if remote {
		vars = "DOCKER_HOST: SSM:/agents/DOCKER_HOST\n    JETS_SSH_KEY: SSM:/agents/JETS_SSH_KEY\n    JETS_SSH_KNOWN: SSM:/agents/JETS_SSH_KNOWN"
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"jetway.yaml": fmt.Sprintf("project: %s\nruns_on: %s\nenv:\n  vars:\n    %s\nphases:\n  build: [%q]\n", name, runsOn, vars, phase)})
	return dir
}

// deploy queues a run of dir and returns its id.
func (e *agentsBed) deploy(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, out, errOut := e.s.jetway(t, ctx, dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy of %s: exit %d\n%s%s", dir, code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// waitRun polls the run until done says so, and fails the test after
// timeout.
func (e *agentsBed) waitRun(t *testing.T, id string, timeout time.Duration, what string, done func(api.Run) bool) api.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := e.s.run(t, id)
		if done(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: not %s after %s: %+v\nserver:\n%s", id, what, timeout, r, e.s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *agentsBed) agents(t *testing.T) []api.Agent {
	t.Helper()
	var agents []api.Agent
	if err := e.s.client(t).Do(context.Background(), http.MethodGet, "/v1/agents", nil, nil, &agents); err != nil {
		t.Fatal(err)
	}
	return agents
}

// agentProc is a `jetway agent` child process, on this machine or in the
// bed's machine.
type agentProc struct {
	e         *agentsBed
	name      string
	token     string
	inMachine bool
	workDir   string
	uids      sandbox.UIDRange
	args      []string
	cmd       *exec.Cmd
	out       *syncBuffer
	done      chan struct{} // closed when the process has exited
}

// agentUIDs hands each agent of this test binary a range of run UIDs of
// its own: two agents with different work dirs must not pick the same
// free UID at once.
var agentUIDs atomic.Int32

// agentsWorkRoot holds the agents' work dirs: not under /tmp, which every
// sandbox covers with a tmpfs, and passable for run users.
const agentsWorkRoot = "/var/lib/jetway-e2e-agents"

// startAgent creates the agent's token and starts it, in the machine
// (reaching the server over the veth) or on this machine (with the local
// Docker daemon allowed), and waits until the server has heard of it.
func (e *agentsBed) startAgent(t *testing.T, name string, inMachine bool, labels string, concurrency int) *agentProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, out, errOut := e.s.jetway(t, ctx, "/", "agents", "token", "create", name, "--labels", labels)
	if code != 0 {
		t.Fatalf("agents token create %s: exit %d %s", name, code, errOut)
	}
	if err := os.MkdirAll(agentsWorkRoot, 0o711); err != nil {
		t.Fatal(err)
	}
	workDir, err := os.MkdirTemp(agentsWorkRoot, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	first := 340000 + os.Getpid()%500*200 + int(agentUIDs.Add(1))%10*20
	a := &agentProc{e: e, name: name, token: strings.TrimSpace(out), inMachine: inMachine, workDir: workDir,
		uids: sandbox.UIDRange{First: first, Last: first + 19}}
	a.args = []string{"agent", "--server", e.s.URL, "--name", name, "--labels", labels, "--concurrency", strconv.Itoa(concurrency),
		"--work-dir", workDir, "--log-dir", t.TempDir(), "--run-uids", a.uids.String(), "--drain-timeout", "0"}
	if !inMachine {
		a.args = append(a.args, "--allow-local-docker")
	}
	t.Cleanup(func() { a.remove(t) })
	started := time.Now()
	a.start(t)
	a.waitHeard(t, started)
	return a
}

func (a *agentProc) start(t *testing.T) {
	t.Helper()
	bin := jetwayBinary(t)
	if a.inMachine {
		a.cmd = a.e.m.Command(context.Background(), bin, a.args...)
	} else {
		a.cmd = exec.Command(bin, a.args...)
	}
	a.cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "JETWAY_AGENT_TOKEN=" + a.token}
	a.out = &syncBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	// A runner's process that outlives the agent must not hold Wait.
	a.cmd.WaitDelay = 2 * time.Second
	// Nor may the agent outlive a test binary that dies.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done, cmd := make(chan struct{}), a.cmd
	a.done = done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
}

// waitHeard waits until the server has heard from the agent since since.
func (a *agentProc) waitHeard(t *testing.T, since time.Time) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, ag := range a.e.agents(t) {
			if ag.Name == a.name && ag.LastSeen != nil && ag.LastSeen.After(since.Add(-time.Second)) {
				return
			}
		}
		if a.exited() {
			t.Fatalf("agent %s exited: %s\n%s", a.name, a.cmd.ProcessState, a.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the server has not heard from agent %s within 15s:\n%s", a.name, a.out.String())
}

func (a *agentProc) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// wait waits for the agent to exit and returns its exit code.
func (a *agentProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-a.done:
		return a.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("agent %s still runs after %s:\n%s", a.name, timeout, a.out.String())
		return 0
	}
}

func (a *agentProc) kill(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)
}

// remove stops the agent (SIGTERM: with --drain-timeout 0 it stops its
// runs at once), removes what its runs left (users too) and its work dir.
func (a *agentProc) remove(t *testing.T) {
	if a.cmd != nil && !a.exited() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			t.Errorf("agent %s did not stop within 30s of SIGTERM; killing it", a.name)
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sandbox.Sweep(ctx, sandbox.Config{WorkDir: a.workDir, UIDs: a.uids, Self: jetwayBinary(t)}); err != nil {
		t.Errorf("removing what agent %s's runs left: %v", a.name, err)
	}
	if err := os.RemoveAll(a.workDir); err != nil {
		t.Error(err)
	}
	_ = os.Remove(agentsWorkRoot) // once empty
	if t.Failed() {
		t.Logf("agent %s's output:\n%s", a.name, a.out.String())
	}
}

// sandboxes lists the run directories in the agent's work dir.
func (a *agentProc) sandboxes() []string {
	dirs, _ := filepath.Glob(filepath.Join(a.workDir, "run-*"))
	return dirs
}

// runUsers maps the run users of the agent's sandboxes to their UIDs: the
// UIDs leased on this machine (a file per UID in /run/jetway-run-uids
// naming the sandbox) to sandboxes in the agent's work dir.
func (a *agentProc) runUsers(t *testing.T) map[string]int {
	t.Helper()
	const leases = "/run/jetway-run-uids"
	entries, err := os.ReadDir(leases)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	users := map[string]int{}
	for _, e := range entries {
		uid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir, err := os.ReadFile(filepath.Join(leases, e.Name()))
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(dir)), a.workDir+"/") {
			continue
		}
		users["uid "+e.Name()] = uid
	}
	return users
}

// runnerPids lists the runner processes of a run.
func runnerPids(id string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		want := []byte("JETWAY_RUN_ID=" + id)
		if err == nil && slices.ContainsFunc(bytes.Split(env, []byte{0}), func(v []byte) bool { return bytes.Equal(v, want) }) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitGone waits until the agent's work dir holds no sandbox, none of its
// run users exists and no process of theirs (users, uids from before) or
// runner of run is left.
func (a *agentProc) waitGone(t *testing.T, timeout time.Duration, run string, users map[string]int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		if dirs := a.sandboxes(); len(dirs) > 0 {
			left = append(left, fmt.Sprintf("sandboxes %v", dirs))
		}
		if now := a.runUsers(t); len(now) > 0 {
			left = append(left, fmt.Sprintf("run users %v", now))
		}
		for name, uid := range users {
			if pids := sandbox.ProcessesOf(uid); len(pids) > 0 {
				left = append(left, fmt.Sprintf("processes %v of %s", pids, name))
			}
		}
		if pids := runnerPids(run); len(pids) > 0 {
			left = append(left, fmt.Sprintf("the runner %v", pids))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s: %s left %s after its run %s ended\nagent:\n%s", a.name, strings.Join(left, ", "), timeout, run, a.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// span is when a run held its lease: from its lease to its end.
type span struct {
	run        string
	start, end time.Time
}

func (s span) overlaps(o span) bool { return s.start.Before(o.end) && o.start.Before(s.end) }

func (s span) String() string {
	return fmt.Sprintf("%s (%s–%s)", s.run, s.start.Format("15:04:05.000"), s.end.Format("15:04:05.000"))
}

// TestAgentsRouteRunsByLabels: the server executes nothing itself; agent
// "far" runs in a network namespace and reaches the server and the remote
// Docker host over its veth only, agent "near" runs on this machine with
// the local daemon. 20 runs of 3 projects: far's only, near's only (the
// local socket, which far cannot reach) and either's. Each run lands on an
// agent whose labels match, succeeds, and no two runs of a project, nor
// more runs than an agent's --concurrency, overlap.
func TestAgentsRouteRunsByLabels(t *testing.T) {
	e := newAgentsBed(t)
	const concurrency = 2
	far := e.startAgent(t, "far", true, "site=far,pool=any", concurrency)
	e.startAgent(t, "near", false, "site=near,pool=any", concurrency)

	remotePhase := fmt.Sprintf("echo start; docker image ls --format 'remote={{.Repository}}' %s; sleep 0.3; echo done", e.b.RemoteMarker)
	projects := []struct {
		name, runsOn string
		remote       bool
		agents       []string // where its runs may land
	}{
		{"route-far", "{site: far}", true, []string{"far"}},
		{"route-near", "{site: near}", false, []string{"near"}},
		{"route-any", "{pool: any}", true, []string{"far", "near"}},
	}
	var dirs []string
	for _, p := range projects {
		phase := "echo start; sleep 0.3; echo done"
		if p.remote {
			phase = remotePhase
		}
		dirs = append(dirs, e.project(t, p.name, p.runsOn, p.remote, phase))
	}
	start := time.Now()
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code, out, errOut := e.s.jetway(t, ctx, dirs[i%3], "deploy", "--detach")
			if code != 0 {
				t.Errorf("deploy %d: exit %d %s", i, code, errOut)
			}
			ids[i] = strings.TrimSpace(out)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	runs := e.s.waitFinished(t, ids, 3*time.Minute)
	t.Logf("20 runs on 2 agents in %s", time.Since(start).Round(time.Millisecond))

	byProject := map[string][]span{}
	byAgent := map[string][]span{}
	for i, r := range runs {
		p := projects[i%3]
		if r.Status != api.StatusSucceeded || r.StartedAt == nil || r.FinishedAt == nil {
			t.Errorf("run %s of %s on %q: %s %s\n%s", r.ID, r.Project, r.Agent, r.Status, r.Reason, e.s.storedLog(t, r.ID))
			continue
		}
		if !slices.Contains(p.agents, r.Agent) {
			t.Errorf("run %s of %s (runs_on %s) ran on agent %q; want one of %v", r.ID, r.Project, p.runsOn, r.Agent, p.agents)
		}
		if p.remote && !strings.Contains(e.s.storedLog(t, r.ID), "remote="+e.b.RemoteMarker) {
			t.Errorf("run %s on %s did not reach the remote Docker host:\n%s", r.ID, r.Agent, e.s.storedLog(t, r.ID))
		}
		sp := span{r.ID, *r.StartedAt, *r.FinishedAt}
		byProject[r.Project] = append(byProject[r.Project], sp)
		byAgent[r.Agent] = append(byAgent[r.Agent], sp)
	}
	for project, spans := range byProject {
		for i := range spans {
			for j := range i {
				if spans[i].overlaps(spans[j]) {
					t.Errorf("two runs of %s overlapped: %v and %v", project, spans[i], spans[j])
				}
			}
		}
	}
	for agent, spans := range byAgent {
		for _, a := range spans {
			at := 0
			for _, o := range spans {
				if !o.start.After(a.start) && o.end.After(a.start) {
					at++
				}
			}
			if at > concurrency {
				t.Errorf("agent %s ran %d runs at once; its --concurrency is %d", agent, at, concurrency)
			}
		}
	}
	// far spoke from inside its namespace, over the veth.
	for _, ag := range e.agents(t) {
		if ag.Name == far.name && ag.Address != e.m.IP {
			t.Errorf("agent far reached the server from %q; want its namespace's %s", ag.Address, e.m.IP)
		}
	}
	t.Logf("runs per agent: far %d, near %d", len(byAgent["far"]), len(byAgent["near"]))
	if len(byAgent["far"]) < 7 || len(byAgent["near"]) < 7 || len(byAgent["far"])+len(byAgent["near"]) != 20 {
		t.Errorf("runs per agent: far %d, near %d", len(byAgent["far"]), len(byAgent["near"]))
	}
}

// lostAgent is the common part of losing an agent mid-run: far (in the
// machine, --concurrency 2, so that a lease request of its waits on the
// server while it is lost, as an agent with a free slot's does) runs a
// long run; near runs a run that spans the loss and, as on a busy server,
// a short run every second. cut makes far silent. far's run fails with
// "agent far lost (no heartbeat for …)" no sooner than the lease timeout
// allows and within it + 10 s, its log kept; near's runs all succeed. It
// returns far, far's run and its run users as they were before the cut.
func lostAgent(t *testing.T, e *agentsBed, cut func(far *agentProc)) (far *agentProc, victim string, users map[string]int) {
	t.Helper()
	far = e.startAgent(t, "far", true, "site=far", 2)
	e.startAgent(t, "near", false, "site=near", 2)
	victim = e.deploy(t, e.project(t, "lost-victim", "{site: far}", true, "echo phase-started; sleep 300"))
	steadyPhase := fmt.Sprintf("echo phase-started; sleep %d; echo finished", int((e.leaseTimeout + 8*time.Second).Seconds()))
	steady := e.deploy(t, e.project(t, "lost-steady", "{site: near}", false, steadyPhase))
	quick := e.project(t, "lost-quick", "{site: near}", false, "echo quick")
	// The output line, not the command that names it ("$ echo
	// phase-started; …" arrives first): the log checked after the cut
	// must have had it before.
	waitLog(t, e.s, victim, "phase-started\n")
	waitLog(t, e.s, steady, "phase-started\n")
	if dirs := far.sandboxes(); len(dirs) != 1 {
		t.Fatalf("far's work dir holds %v; want the sandbox of run %s", dirs, victim)
	}
	if users = far.runUsers(t); len(users) != 1 {
		t.Fatalf("far's run users: %v; want the one of run %s", users, victim)
	}

	cutAt := time.Now()
	cut(far)
	// near goes on working meanwhile: a run every second.
	quicks := []string{}
	var lost api.Run
	bound := e.leaseTimeout + 10*time.Second
	for next := time.Now(); ; {
		if time.Now().After(next) {
			quicks = append(quicks, e.deploy(t, quick))
			next = next.Add(time.Second)
		}
		if lost = e.s.run(t, victim); api.Finished(lost.Status) {
			break
		}
		if time.Since(cutAt) > bound {
			t.Fatalf("run %s on the lost agent far is still %s (%q) %s after the cut (lease timeout %s)\nserver:\n%s",
				victim, lost.Status, lost.Reason, time.Since(cutAt).Round(time.Millisecond), e.leaseTimeout, e.s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(cutAt)
	t.Logf("far's run failed %s after far was cut off (lease timeout %s)", took.Round(time.Millisecond), e.leaseTimeout)
	want := fmt.Sprintf("agent far lost (no heartbeat for %s)", e.leaseTimeout)
	if lost.Status != api.StatusFailed || lost.Reason != want {
		t.Errorf("run %s: %s %q; want failed with %q", victim, lost.Status, lost.Reason, want)
	}
	// Its last heartbeat came at most a second before the cut.
	if took < e.leaseTimeout-2*time.Second {
		t.Errorf("run %s failed %s after the cut, before far can have been silent for %s", victim, took, e.leaseTimeout)
	}
	if log := e.s.storedLog(t, victim); !strings.Contains(log, "phase-started\n") || !strings.Contains(log, "error: "+want) {
		t.Errorf("run %s's log lost its lines or does not say why it failed:\n%s", victim, log)
	}
	for _, r := range e.s.waitFinished(t, append(quicks, steady), time.Minute) {
		if r.Status != api.StatusSucceeded || r.Agent != "near" {
			t.Errorf("near's run %s of %s: %s %q on %q; want succeeded on near", r.ID, r.Project, r.Status, r.Reason, r.Agent)
		}
	}
	return far, victim, users
}

// TestAgentKilledMidRun: kill -9 of an agent mid-run. Its run fails as
// lost within the lease timeout + 10 s; the other agent's runs go on; its
// runner dies with it; the restarted agent removes the sandbox, run user
// and processes the dead one left.
func TestAgentKilledMidRun(t *testing.T) {
	e := newAgentsBed(t)
	far, victim, users := lostAgent(t, e, func(far *agentProc) { far.kill(t) })
	if pids := runnerPids(victim); len(pids) > 0 {
		t.Errorf("the runner of run %s outlived its killed agent: %v", victim, pids)
	}
	// What the restart must remove is there.
	if len(far.sandboxes()) != 1 || len(far.runUsers(t)) != 1 {
		t.Fatalf("before far restarts: sandboxes %v, run users %v; the dead agent's run left none, and the test proves nothing", far.sandboxes(), far.runUsers(t))
	}
	restarted := time.Now()
	far.start(t)
	far.waitHeard(t, restarted)
	far.waitGone(t, 15*time.Second, victim, users)
	if r := e.s.run(t, victim); r.Status != api.StatusFailed {
		t.Errorf("after far restarted, run %s is %s", victim, r.Status)
	}
}

// TestAgentPartitioned: a silent partition (the agent's link set down in
// its namespace: no RST reaches either side). The same outcome as a kill;
// once the link is up again the agent hears that its run is over and
// stops it: no sandbox, run user or process of it is left, and the run
// stays failed.
func TestAgentPartitioned(t *testing.T) {
	e := newAgentsBed(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	far, victim, users := lostAgent(t, e, func(far *agentProc) {
		if err := e.m.SetLink(ctx, false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.m.SetLink(context.Background(), true) })
	})
	if far.exited() || len(runnerPids(victim)) == 0 {
		t.Fatalf("agent far or its runner of %s has stopped during the partition; the test proves nothing", victim)
	}
	if err := e.m.SetLink(ctx, true); err != nil {
		t.Fatal(err)
	}
	far.waitGone(t, 20*time.Second, victim, users)
	if far.exited() {
		t.Errorf("agent far exited after the partition:\n%s", far.out.String())
	}
	if r := e.s.run(t, victim); r.Status != api.StatusFailed || !strings.HasPrefix(r.Reason, "agent far lost") {
		t.Errorf("after the partition healed, run %s is %s %q", victim, r.Status, r.Reason)
	}
}

// TestAgentRunOutlivesServerKill: kill -9 of the server while a run on an
// agent prints a numbered line every 100 ms for 10 s, then the server
// again on the same data dir and address. The run goes on and succeeds,
// and its stored log holds every line once, in order.
func TestAgentRunOutlivesServerKill(t *testing.T) {
	e := newAgentsBed(t)
	far := e.startAgent(t, "far", true, "site=far", 1)
	const n = 100
	dir := e.project(t, "through-restart", "{site: far}", true,
		fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line $i; sleep 0.1; i=$((i+1)); done", n))
	id := e.deploy(t, dir)
	waitLog(t, e.s, id, "line 20\n")
	e.killServer(t)
	time.Sleep(2 * time.Second) // lines pile up on the agent's machine
	e.restartServer(t)
	r := e.s.waitFinished(t, []string{id}, time.Minute)[0]
	if r.Status != api.StatusSucceeded || r.Agent != "far" {
		t.Fatalf("run %s after the server's restart: %s %q on %q\n%s", id, r.Status, r.Reason, r.Agent, e.s.storedLog(t, id))
	}
	next := 1
	log := e.s.storedLog(t, id)
	for l := range strings.SplitSeq(log, "\n") {
		var i int
		if _, err := fmt.Sscanf(l, "line %d", &i); err != nil {
			continue
		}
		if i != next {
			t.Fatalf("line %d stored where line %d belongs:\n%s", i, next, log)
		}
		next++
	}
	if next != n+1 {
		t.Fatalf("%d of %d lines stored:\n%s", next-1, n, log)
	}
	if far.exited() {
		t.Errorf("agent far exited while the server restarted:\n%s", far.out.String())
	}
}

// TestAgentCancelAndRevoke: jetway stop reaches a run on an agent in its
// namespace within about 2 s (a heartbeat), and its runner reports it
// cancelled; a revoked token is refused: the agent stops its running run
// (cancelled) and exits with status 2 and the reason, and a restart with
// that token does too.
func TestAgentCancelAndRevoke(t *testing.T) {
	e := newAgentsBed(t)
	far := e.startAgent(t, "far", true, "site=far", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	id := e.deploy(t, e.project(t, "stop-me", "{site: far}", true, "echo phase-started; sleep 300"))
	waitLog(t, e.s, id, "phase-started")
	stopped := time.Now()
	if code, _, errOut := e.s.jetway(t, ctx, "/", "stop", id); code != 0 {
		t.Fatalf("stop: exit %d %s", code, errOut)
	}
	r := e.waitRun(t, id, 10*time.Second, "cancelled", func(r api.Run) bool { return api.Finished(r.Status) })
	took := time.Since(stopped)
	t.Logf("jetway stop to run cancelled: %s", took.Round(time.Millisecond))
	if r.Status != api.StatusCancelled || r.Summary == nil || r.Summary.Status != api.StatusCancelled {
		t.Errorf("run %s after jetway stop: %s %q, summary %+v; want cancelled, as its runner reports", id, r.Status, r.Reason, r.Summary)
	}
	// 2 s wanted; the slack is for a loaded machine.
	if took > 5*time.Second {
		t.Errorf("jetway stop took %s to reach run %s on agent far", took, id)
	}
	far.waitGone(t, 10*time.Second, id, nil)

	id = e.deploy(t, e.project(t, "revoke-me", "{site: far}", true, "echo phase-started; sleep 300"))
	waitLog(t, e.s, id, "phase-started")
	users := far.runUsers(t)
	if code, _, errOut := e.s.jetway(t, ctx, "/", "agents", "revoke", "far"); code != 0 {
		t.Fatalf("revoke: exit %d %s", code, errOut)
	}
	refused := "the server refused this agent's token"
	if code := far.wait(t, 15*time.Second); code != 2 || !strings.Contains(far.out.String(), refused) {
		t.Errorf("the revoked agent exited with %d; want 2 with %q:\n%s", code, refused, far.out.String())
	}
	if r := e.s.run(t, id); r.Status != api.StatusCancelled || r.Reason != "agent far revoked" {
		t.Errorf("the revoked agent's run %s: %s %q; want cancelled, \"agent far revoked\"", id, r.Status, r.Reason)
	}
	far.waitGone(t, 10*time.Second, id, users)

	far.start(t)
	if code := far.wait(t, 15*time.Second); code != 2 || !strings.Contains(far.out.String(), refused) {
		t.Errorf("an agent started with a revoked token exited with %d; want 2 with %q:\n%s", code, refused, far.out.String())
	}
	for _, ag := range e.agents(t) {
		if ag.Name == "far" && !ag.Revoked {
			t.Errorf("agent far is listed as not revoked: %+v", ag)
		}
	}
}
