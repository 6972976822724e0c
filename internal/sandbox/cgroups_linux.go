package sandbox

import (
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

const cgroupRoot = "/sys/fs/cgroup"

// limit puts the init (and so, through Command, every process of the run)
// into cgroups with the limits: one per controller on cgroup v1, one with
// both controllers on v2.
func (sb *Sandbox) limit(l Limits) error {
	if l == (Limits{}) {
		return nil
	}
	name := "jetway-" + filepath.Base(sb.Dir)
	var err error
	if isCgroup2(cgroupRoot) {
		err = sb.limitV2(filepath.Join(cgroupRoot, name), l)
	} else {
		err = sb.limitV1(name, l)
	}
	if errors.Is(err, errNoCgroups) {
		sb.Notes = append(sb.Notes, fmt.Sprintf("limits: not applied, %v", err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("applying limits: %w", err)
	}
	pid := strconv.Itoa(sb.init.Process.Pid)
	for _, cg := range sb.cgroups {
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(pid), 0); err != nil {
			return fmt.Errorf("applying limits: %w", err)
		}
	}
	return nil
}

func isCgroup2(root string) bool {
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return err == nil
}

func (sb *Sandbox) limitV1(name string, l Limits) error {
	type setting struct{ controller, file, value string }
	var settings []setting
	if l.MemoryBytes > 0 {
		v := strconv.FormatInt(l.MemoryBytes, 10)
		settings = append(settings, setting{"memory", "memory.limit_in_bytes", v}, setting{"memory", "memory.memsw.limit_in_bytes", v})
	}
	if l.PIDs > 0 {
		settings = append(settings, setting{"pids", "pids.max", strconv.Itoa(l.PIDs)})
	}
	if l.CPUs > 0 {
		settings = append(settings, setting{"cpu", "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)},
			setting{"cpu", "cpu.cfs_quota_us", strconv.Itoa(int(l.CPUs * cpuPeriod))})
	}
	for _, s := range settings {
		base := filepath.Join(cgroupRoot, s.controller)
		if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
			return fmt.Errorf("%w (no %s controller at %s)", errNoCgroups, s.controller, base)
		}
		dir := filepath.Join(base, name)
		if !slices.Contains(sb.cgroups, dir) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			sb.cgroups = append(sb.cgroups, dir)
		}
		err := os.WriteFile(filepath.Join(dir, s.file), []byte(s.value), 0)
		if err != nil && s.file == "memory.memsw.limit_in_bytes" && errors.Is(err, os.ErrNotExist) {
			continue // no swap accounting: memory.limit_in_bytes alone
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.file, err)
		}
	}
	return nil
}

func (sb *Sandbox) limitV2(dir string, l Limits) error {
	controllers, _ := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"))
	for _, c := range []string{"memory", "pids", "cpu"} {
		if !slices.Contains(strings.Fields(string(controllers)), c) {
			if err := os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte("+"+c), 0); err != nil {
				return fmt.Errorf("%w (enabling %s: %v)", errNoCgroups, c, err)
			}
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	sb.cgroups = append(sb.cgroups, dir)
	if l.MemoryBytes > 0 {
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(l.MemoryBytes, 10)), 0); err != nil {
			return err
		}
		_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
	}
	if l.PIDs > 0 {
		if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(l.PIDs)), 0); err != nil {
			return err
		}
	}
	if l.CPUs > 0 {
		v := fmt.Sprintf("%d %d", int(l.CPUs*cpuPeriod), cpuPeriod)
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(v), 0); err != nil {
			return err
		}
	}
	return nil
}

// cpuPeriod is the CFS period in microseconds a CPU limit is measured in.
const cpuPeriod = 100000

// removeCgroup kills what is left in a cgroup and removes it; the kernel
// may take a moment to let go of processes that were just killed.
func removeCgroup(dir string) error {
	var err error
	for range 100 {
		// Whatever is still in it (an init a crashed runner left) goes first.
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(procs)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w", dir, err)
}

// existingCgroups finds the cgroups of a sandbox directory's name.
func existingCgroups(dirName string) []string {
	name := "jetway-" + dirName
	var found []string
	for _, c := range []string{filepath.Join(cgroupRoot, name), filepath.Join(cgroupRoot, "memory", name), filepath.Join(cgroupRoot, "pids", name), filepath.Join(cgroupRoot, "cpu", name)} {
		if _, err := os.Stat(c); err == nil {
			found = append(found, c)
		}
	}
	return found
}
