//go:build unix

package runner

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// oNoFollow refuses a link in the last element of a name.
const oNoFollow = syscall.O_NOFOLLOW

// ownProcessGroup starts a phase's command in a process group of its own,
// so that stopping it reaches everything it started.
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// stopGroup sends the command's process group SIGTERM, and SIGKILL after
// grace.
func stopGroup(p *os.Process, grace time.Duration) {
	pgid := p.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
}

// fileOwner is the UID that owns the file info describes.
func fileOwner(info fs.FileInfo) (int, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
