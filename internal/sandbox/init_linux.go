package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// initEnv marks a process started as an init, so that a binary started
// with InitArg by mistake does not act as one.
const initEnv = "JETWAY_SANDBOX_INIT=1"

// privateDirs get a fresh tmpfs in every sandbox.
var privateDirs = []string{"/tmp", "/var/tmp", "/dev/shm"}

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
// started as one, and never returns then. Binaries that create sandboxes
// call it before anything else (jetway's CLI has the sandbox-init command
// instead).
func RunInitIfAsked() {
	if len(os.Args) == 3 && os.Args[1] == InitArg {
		os.Exit(InitMain(os.Args[2]))
	}
}

// InitMain is PID 1 of a sandbox: it makes the mounts, says "ready", then
// reaps orphans until it is killed or its parent closes stdin.
func InitMain(dir string) int {
	if os.Getenv("JETWAY_SANDBOX_INIT") != "1" || os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "sandbox-init is started by jetway's runner, as PID 1 of a new PID namespace")
		return 2
	}
	if err := isolateMounts(dir); err != nil {
		fmt.Printf("mounts: %v\n", err)
		return 1
	}
	fmt.Println("ready")
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)
	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(parentGone)
	}()
	for {
		for {
			pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		select {
		case <-children:
		case <-parentGone:
			return 0
		}
	}
}

// isolateMounts gives the namespace its view of the machine: everything
// read-only and without set-uid except the sandbox's directory, fresh
// tmpfs mounts where programs share files, the run's resolv.conf (naming
// slirp4netns's DNS forwarder) over the machine's, and a /proc of this PID
// namespace only.
func isolateMounts(dir string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s: %w", dir, err)
	}
	// Bound before the machine is made read-only, so the files are too:
	// the run's resolv.conf, and its passwd and group, which alone name
	// the run user.
	for _, f := range []struct{ name, over string }{{resolvConf, "/etc/resolv.conf"}, {passwdFile, "/etc/passwd"}, {groupFile, "/etc/group"}} {
		if src := filepath.Join(dir, f.name); fileExists(src) {
			if err := unix.Mount(src, f.over, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("binding the run's %s: %w", f.name, err)
			}
		}
	}
	if err := unix.MountSetattr(-1, "/", unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}); err != nil {
		return fmt.Errorf("making the machine read-only: %w", err)
	}
	if err := unix.MountSetattr(-1, dir, 0, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY, Attr_set: unix.MOUNT_ATTR_NODEV}); err != nil {
		return fmt.Errorf("making %s writable: %w", dir, err)
	}
	for _, d := range privateDirs {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", d, err)
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	return nil
}

var errNoCgroups = errors.New("this machine has neither cgroup v1 nor v2 controllers for memory and pids")

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
