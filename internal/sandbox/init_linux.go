package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/jetway-dev/jetway/internal/sandbox/sandboxinit"
)

// initEnv marks a process started as an init, so that a binary started
// with InitArg by mistake does not act as one.
const initEnv = sandboxinit.Env

// privateDirs get a fresh tmpfs in every sandbox.
var privateDirs = sandboxinit.PrivateDirs

// startInit starts the init in new PID, mount, IPC and network namespaces
// and waits until its mounts are in place. The network namespace has only
// a loopback, down, until startNetwork links it.
func (sb *Sandbox) startInit(ctx context.Context, self string) error {
	cmd := exec.Command(self, InitArg, sb.Dir)
	cmd.Env = []string{initEnv, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		// Should the runner die, the init dies, and with it the run.
		Pdeathsig: syscall.SIGKILL,
		Setsid:    true,
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the sandbox init: %w", err)
	}
	sb.init, sb.initIn = cmd, in
	// tmpfs pages belong to no process: under a memory limit the kernel
	// would pick the init, and the run would end without a word.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", cmd.Process.Pid), []byte("-1000"), 0)
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) == "ready" {
			return nil
		}
		sb.stopInit()
		return fmt.Errorf("the sandbox init failed: %s", strings.TrimSpace(line+" "+stderr.String()))
	case <-time.After(10 * time.Second):
		sb.stopInit()
		return fmt.Errorf("the sandbox init (%s %s) did not report ready within 10s; a test binary must call sandbox.RunInitIfAsked in TestMain", self, InitArg)
	case <-ctx.Done():
		sb.stopInit()
		return context.Cause(ctx)
	}
}

// stopInit kills the init; the kernel then kills every process of its PID
// namespace, and Wait returns once they are all gone.
func (sb *Sandbox) stopInit() {
	_ = sb.init.Process.Kill()
	_ = sb.init.Wait()
	sb.initIn.Close()
	sb.init = nil
}

// RunInitIfAsked turns this process into a sandbox's init when it was
// started as one, and never returns then. Package sandboxinit, which this
// package imports, does so as it initializes, before this can run; test
// binaries that create sandboxes still call it first thing in TestMain.
func RunInitIfAsked() {
	if len(os.Args) == 3 && os.Args[1] == InitArg {
		os.Exit(InitMain(os.Args[2]))
	}
}

// InitMain is PID 1 of a sandbox (sandboxinit.Main).
func InitMain(dir string) int { return sandboxinit.Main(dir) }

var errNoCgroups = errors.New("this machine has neither cgroup v1 nor v2 controllers for memory and pids")
