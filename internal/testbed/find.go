package testbed

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcessesWith lists the processes (other than this one) whose command
// line, its arguments joined by spaces, holds marker: how a test finds
// what a run left running.
func ProcessesWith(marker string) []int {
	procs, _ := os.ReadDir("/proc")
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}
