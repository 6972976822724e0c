package executor

import (
	"os"
	"syscall"
)

// processGroup puts a runner in its own process group, so that a stop
// reaches everything it started, and has the kernel send it sig (default
// SIGTERM) when its parent dies, so that no runner outlives it unnoticed.
func processGroup(sig syscall.Signal) *syscall.SysProcAttr {
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}

// killGroup kills the runner's whole process group.
func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
