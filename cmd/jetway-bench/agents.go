package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
)

// jetwayServer is one `jetway server` the bench started, with a data dir
// (HOME) of its own.
type jetwayServer struct {
	name   string
	cmd    *exec.Cmd
	url    string
	home   string
	client *apiclient.Client
	logDir string
}

// executorDirs gives each process that executes runs (a server's own
// agent, a `jetway agent`) a work dir and a UID range of its own: agents
// on one machine must not share them (each sweeps its work dir at start,
// and UIDs are allocated under a lock of the work dir). Work dirs may not
// lie under /tmp, which every sandbox replaces.
func (e *benchEnv) executorDirs(name string) (workDir, uids string, err error) {
	if e.runsDir == "" {
		e.runsDir = fmt.Sprintf("/var/lib/jetway-bench-%d", os.Getpid())
	}
	workDir = filepath.Join(e.runsDir, name)
	if err := os.MkdirAll(workDir, 0o711); err != nil {
		return "", "", err
	}
	// Far above the default range (200000–299999) that other servers on
	// this machine use.
	first := 600000 + e.executors*5000
	e.executors++
	return workDir, fmt.Sprintf("%d-%d", first, first+4999), nil
}

// startServer starts a jetway server listening on host (a free port) with
// its own HOME; args are its other flags. With sandbox set it also gets a
// work dir and UID range of its own.
func (e *benchEnv) startServer(ctx context.Context, name, host string, sandbox bool, args ...string) (*jetwayServer, error) {
	s := &jetwayServer{name: name, home: filepath.Join(e.work, name+"-home"), logDir: filepath.Join(e.work, name+"-logs")}
	if err := os.MkdirAll(s.home, 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s.url = "http://" + addr
	args = append([]string{"server", "--listen", addr}, args...)
	if sandbox {
		workDir, uids, err := e.executorDirs(name)
		if err != nil {
			return nil, err
		}
		args = append(args, "--work-dir", workDir, "--run-uids", uids)
	}
	s.cmd = exec.Command(e.jetway, args...)
	s.cmd.Env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH")}
	logFile, err := os.Create(filepath.Join(e.work, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	e.servers = append(e.servers, s)
	for range 400 {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			token, err := os.ReadFile(filepath.Join(s.home, ".local", "share", "jetway", "token"))
			if err != nil {
				return nil, err
			}
			s.client = apiclient.New(s.url, strings.TrimSpace(string(token)))
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(25 * time.Millisecond)
	}
	return nil, fmt.Errorf("the server %s did not start; see %s", name, logFile.Name())
}

// stop ends the server (it drains its own agent first).
func (s *jetwayServer) stop() { stopProcess(s.cmd, os.Interrupt, 60*time.Second) }

// emptyBundle uploads a bundle without files and returns its id.
func (s *jetwayServer) emptyBundle(ctx context.Context) (string, error) {
	var created struct {
		ID string `json:"id"`
	}
	err := s.client.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &created)
	return created.ID, err
}

// submit queues a run of projectFile on bundle.
func (s *jetwayServer) submit(ctx context.Context, projectFile, bundle string) (api.Run, error) {
	var run api.Run
	err := s.client.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: projectFile, Bundle: bundle}, &run)
	return run, err
}

func (s *jetwayServer) run(ctx context.Context, id string) (api.Run, error) {
	var run api.Run
	err := s.client.Do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id), nil, nil, &run)
	return run, err
}

// agentProc is a `jetway agent` the bench started.
type agentProc struct {
	name string
	cmd  *exec.Cmd
}

// agentSpec says how to start an agent.
type agentSpec struct {
	name        string
	concurrency int
	netns       string // run it in this network namespace (nsenter --net), "" for this machine's network
	serverURL   string // what it talks to; default the server's URL
	labels      string
}

// startAgent creates the agent's token with `jetway agents token create`
// and starts `jetway agent` with it, as an operator would; it returns once
// the server has heard from the agent (its first lease request).
func (e *benchEnv) startAgent(ctx context.Context, s *jetwayServer, spec agentSpec) (*agentProc, error) {
	createArgs := []string{"agents", "token", "create", spec.name}
	if spec.labels != "" {
		createArgs = append(createArgs, "--labels", spec.labels) // the token decides what the agent may claim
	}
	create := exec.CommandContext(ctx, e.jetway, createArgs...)
	create.Env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH"), "JETWAY_SERVER=" + s.url}
	var stderr bytes.Buffer
	create.Stderr = &stderr
	out, err := create.Output()
	if err != nil {
		return nil, fmt.Errorf("jetway agents token create %s: %v: %s", spec.name, err, stderr.String())
	}
	token := strings.TrimSpace(string(out))
	workDir, uids, err := e.executorDirs(spec.name)
	if err != nil {
		return nil, err
	}
	server := spec.serverURL
	if server == "" {
		server = s.url
	}
	args := []string{"agent", "--server", server, "--name", spec.name, "--concurrency", fmt.Sprint(spec.concurrency),
		"--work-dir", workDir, "--run-uids", uids, "--log-dir", filepath.Join(e.work, spec.name+"-runners"),
		"--allow-local-docker", "--drain-timeout", "1m"}
	if spec.labels != "" {
		args = append(args, "--labels", spec.labels)
	}
	name := e.jetway
	if spec.netns != "" {
		// Its network only: ip netns exec would remount /sys, which the
		// sandboxes' cgroups need.
		args = append([]string{"--net=/var/run/netns/" + spec.netns, e.jetway}, args...)
		name = "nsenter"
	}
	a := &agentProc{name: spec.name, cmd: exec.Command(name, args...)}
	a.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "JETWAY_AGENT_TOKEN=" + token}
	logFile, err := os.Create(filepath.Join(e.work, spec.name+".log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	e.agents = append(e.agents, a)
	for range 400 {
		var list []api.Agent
		if err := s.client.Do(ctx, http.MethodGet, "/v1/agents", nil, nil, &list); err != nil {
			return nil, err
		}
		for _, ag := range list {
			if ag.Name == spec.name && ag.LastSeen != nil {
				return a, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(25 * time.Millisecond)
	}
	return nil, fmt.Errorf("agent %s did not reach the server; see %s", spec.name, logFile.Name())
}

// stop drains the agent (it has no runs left when the bench stops it).
func (a *agentProc) stop() { stopProcess(a.cmd, syscall.SIGTERM, 90*time.Second) }

// stopProcess signals cmd's process and waits for it, killing it after
// timeout. It is safe to call more than once.
func stopProcess(cmd *exec.Cmd, sig os.Signal, timeout time.Duration) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
	}
}

// procCPU is the CPU time (s) a process has used, and separately that of
// its children it has waited for (for an agent: its runners and all they
// started), from /proc/PID/stat; zeros when it is gone.
func procCPU(pid int) (self, children float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// The fields after the command name, which may hold spaces: state is
	// the first, utime the 12th, stime, cutime, cstime follow.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0, 0
	}
	var t [4]float64
	for i := range t {
		fmt.Sscan(f[11+i], &t[i])
	}
	const tick = 100 // USER_HZ, the same on every Linux
	return (t[0] + t[1]) / tick, (t[2] + t[3]) / tick
}

// cpuSample is the machine's CPU time so far (in ticks), from /proc/stat.
type cpuSample struct{ busy, total float64 }

func readCPU() cpuSample {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var s cpuSample
	for i, f := range strings.Fields(line)[1:] {
		var v float64
		fmt.Sscan(f, &v)
		s.total += v
		if i != 3 && i != 4 { // idle, iowait
			s.busy += v
		}
	}
	return s
}

// busySince is the machine's busy CPU time since s (in seconds) and its
// share of all CPU time then (in percent).
func (s cpuSample) busySince() (seconds, percent float64) {
	now := readCPU()
	if now.total <= s.total {
		return 0, 0
	}
	return (now.busy - s.busy) / 100, 100 * (now.busy - s.busy) / (now.total - s.total)
}
