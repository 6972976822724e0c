//go:build !linux

package executor

import (
	"os"
	"syscall"
)

// processGroup has nothing to set outside Linux, where no server or agent
// starts runners (jetway's server and agent commands need Linux); it
// exists so that the client, which links this package, builds everywhere.
func processGroup(syscall.Signal) *syscall.SysProcAttr { return nil }

// killGroup kills the runner alone.
func killGroup(p *os.Process) {
	_ = p.Kill()
}
