package testbed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Down stops every process of the bed, removes its namespace, veth, mounts
// and directory. It is safe to call on a half-built or already removed bed.
func (b *Bed) Down() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error

	// Daemons first, gently: a dockerd stopped with SIGTERM unmounts its
	// layers and stops its containerd.
	var pids []int
	for _, p := range b.Procs {
		if alive(p.PID) {
			_ = syscall.Kill(p.PID, syscall.SIGTERM)
			pids = append(pids, p.PID)
		}
	}
	waitGone(pids, 15*time.Second)
	// Then everything still running inside the namespace: sshd sessions,
	// containerd shims, containers.
	if b.NetNS != "" {
		if out, err := output(ctx, "ip", "netns", "pids", b.NetNS); err == nil {
			var nsPids []int
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					nsPids = append(nsPids, pid)
				}
			}
			waitGone(nsPids, 5*time.Second)
		}
	}
	for _, p := range b.Procs {
		if alive(p.PID) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	if err := unmountUnder(b.Dir); err != nil {
		errs = append(errs, err)
	}
	if b.NetNS != "" {
		if _, err := os.Stat("/var/run/netns/" + b.NetNS); err == nil {
			if err := run(ctx, "ip", "netns", "delete", b.NetNS); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if b.VethHost != "" {
		// Deleting the namespace removes the pair; this covers a veth whose
		// peer never moved into it.
		_ = run(ctx, "ip", "link", "delete", b.VethHost)
	}
	if b.Dir != "" && strings.HasPrefix(filepath.Base(b.Dir), "jwtb-") {
		if err := os.RemoveAll(b.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", b.Dir, err))
		}
	}
	if b.Subnet != 0 {
		_ = os.Remove(subnetLock(b.Subnet))
	}
	if b.ID != "" {
		_ = os.Remove(filepath.Join(registryDir, b.ID))
	}
	return errors.Join(errs...)
}

func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(pids, alive) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first,
// such as overlay layers a killed dockerd left behind.
func unmountUnder(dir string) error {
	if dir == "" {
		return nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
