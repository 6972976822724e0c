package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// minMemory is Docker's own floor for --memory: below it a shell cannot
// start, and `memory: 512` is more likely 512m with the unit forgotten.
const minMemory = 6 << 20

// maxPIDs is the kernel's PID_MAX_LIMIT on 64-bit machines.
const maxPIDs = 1 << 22

// memoryRE is a size: a number and an optional unit, in any case. As in
// Docker's --memory, every unit is binary: k, kb and KiB all mean 1024.
var memoryRE = regexp.MustCompile(`(?i)^([0-9]+(?:\.[0-9]+)?)\s*(b|[kmgt](?:i?b)?)?$`)

// parseLimits reads the limits mapping; bad reports an error at a key.
func parseLimits(raw rawLimits, bad func(key, format string, args ...any) error) (Limits, error) {
	var l Limits
	if raw.Memory != "" {
		n, err := parseMemory(raw.Memory)
		if err != nil {
			return l, bad("limits.memory", "limits.memory %q: %v", raw.Memory, err)
		}
		l.MemoryBytes = n
	}
	if raw.PIDs != "" {
		n, err := strconv.Atoi(strings.TrimSpace(raw.PIDs))
		switch {
		case err != nil || n < 0:
			return l, bad("limits.pids", "limits.pids %q: write the most processes a run may have at once, e.g. 512 (0 for no limit)", raw.PIDs)
		case n > maxPIDs:
			return l, bad("limits.pids", "limits.pids %q is above the kernel's maximum, %d", raw.PIDs, maxPIDs)
		}
		l.PIDs = n
	}
	if raw.CPUs != "" {
		n, err := parseCPUs(raw.CPUs)
		if err != nil {
			return l, bad("limits.cpus", "limits.cpus %q: %v", raw.CPUs, err)
		}
		l.CPUs = n
	}
	return l, nil
}

// parseCPUs reads a number of CPUs such as 2 or 0.5.
func parseCPUs(s string) (float64, error) {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("write how many CPUs a run may use, e.g. 2 or 0.5 (0 for no limit)")
	}
	if n > 0 && n < 0.01 {
		return 0, fmt.Errorf("is less than a run needs (0.01 at least)")
	}
	return n, nil
}

// ParseMachineLimits reads an operator's limits for every run of a machine
// (jetway server/agent --limits): memory=SIZE,pids=N,cpus=N.
func ParseMachineLimits(s string) (Limits, error) {
	var raw rawLimits
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		switch k = strings.ToLower(strings.TrimSpace(k)); {
		case !ok:
			return Limits{}, fmt.Errorf("%q: write NAME=VALUE, e.g. memory=4g,pids=1024,cpus=2", part)
		case k == "memory":
			raw.Memory = v
		case k == "pids":
			raw.PIDs = v
		case k == "cpus":
			raw.CPUs = v
		case k == "disk":
			return Limits{}, fmt.Errorf("disk: jetway does not limit a run's disk yet; give the work dir (--work-dir) a filesystem of its own")
		default:
			return Limits{}, fmt.Errorf("%q: the limits are memory, pids and cpus", k)
		}
	}
	return parseLimits(raw, func(key, format string, args ...any) error { return fmt.Errorf(format, args...) })
}

// parseMemory reads a size such as 512m, 2g, 1.5GiB or 1048576.
func parseMemory(s string) (int64, error) {
	m := memoryRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("write a size such as 512m or 2g (units b, k, m, g, t; 0 for no limit)")
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("write a size such as 512m or 2g: %w", err)
	}
	shift := map[byte]uint{'b': 0, 'k': 10, 'm': 20, 'g': 30, 't': 40}
	unit := byte('b')
	if m[2] != "" {
		unit = strings.ToLower(m[2])[0]
	}
	bytes := f * float64(uint64(1)<<shift[unit])
	switch {
	case bytes >= math.MaxInt64:
		return 0, fmt.Errorf("too large")
	case bytes == 0:
		return 0, nil
	case bytes < minMemory:
		return 0, fmt.Errorf("is %d bytes, less than a run needs; write a unit, e.g. 512m (6m at least, 0 for no limit)", int64(bytes))
	}
	return int64(bytes), nil
}
