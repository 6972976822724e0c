//go:build unix

package cli

import "syscall"

// oNoFollow refuses a link in the last element of a name.
const oNoFollow = syscall.O_NOFOLLOW

// canRunPhases: phases run with /bin/sh, which every Unix has.
func canRunPhases() error { return nil }

// systemRuntimeDir is where a server run as root records itself for
// clients (discovery.go).
const systemRuntimeDir = "/run/jetway"

// processAlive says whether pid is a running process (EPERM: it is, as
// another user's).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
