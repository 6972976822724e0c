package testbed

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// descendants lists the pids below pid in the process tree.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields after the last ')' are
		// state, ppid, ...
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// SignalSSHD sends sig to the per-connection processes of the named sshd
// (as returned by StartSSHD), and to the listener too when listener is set.
// Tests use it to drop or freeze SSH connections mid-stream.
func (b *Bed) SignalSSHD(name string, sig syscall.Signal, listener bool) error {
	p := b.proc(name)
	if p == nil {
		return fmt.Errorf("no process %q in this bed", name)
	}
	pids := descendants(p.PID)
	if listener {
		pids = append(pids, p.PID)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
			return err
		}
	}
	return nil
}
