package runner

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Windows has no O_NOFOLLOW: what the runner opens in the workspace is
// checked to be a regular file once opened, and os.Root never leaves the
// root. (`jetway run` itself needs a POSIX shell and says so on Windows;
// this file lets the client, which links the runner, build.)
const oNoFollow = 0

// ownProcessGroup has no equivalent to set on Windows.
func ownProcessGroup() *syscall.SysProcAttr { return nil }

// stopGroup kills the command: Windows has no process groups to signal.
func stopGroup(p *os.Process, _ time.Duration) { _ = p.Kill() }

// fileOwner is unknown on Windows: files have no UID.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
