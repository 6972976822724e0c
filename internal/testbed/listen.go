package testbed

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// ListenIn listens on addr (tcp4) inside the named network namespace (ip
// netns), for a service only that namespace reaches: the loopback of a
// bed's remote host, an address outside a run's network.
func ListenIn(netns, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	// A thread whose namespace could not be put back stays locked, and the
	// runtime ends it with its goroutine.
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer home.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", netns))
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("entering %s: %w", netns, err)
	}
	l, lerr := net.Listen("tcp4", addr)
	if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("leaving %s: %w", netns, err)
	}
	runtime.UnlockOSThread()
	return l, lerr
}
