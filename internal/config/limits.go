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
	return l, nil
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
