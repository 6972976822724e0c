package sandbox

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/jetway-dev/jetway/internal/sandbox/sandboxinit"
)

// InitArg is the argument that makes this binary the sandbox's init:
// `jetway sandbox-init DIR`. Test binaries that create sandboxes call
// RunInitIfAsked first thing in TestMain.
const InitArg = sandboxinit.Arg

// Config is where and how a machine makes its sandboxes.
type Config struct {
	// WorkDir holds the sandboxes. It must not lie under /tmp, /var/tmp or
	// /dev/shm, which each sandbox covers with its own tmpfs. Default:
	// /var/lib/jetway-runs as root, else a directory in os.TempDir().
	WorkDir string
	// UIDs is the range run users are taken from; default DefaultUIDs.
	UIDs UIDRange
	// Self is the binary whose `sandbox-init` holds the namespaces; default
	// os.Executable().
	Self string
	// Slirp4netns is the slirp4netns binary that links each run's network
	// namespace to the world; default: the system's, from Debian's
	// slirp4netns package.
	Slirp4netns string
	// MaxLimits are the operator's limits for every run of this machine:
	// defaults and ceilings of what a project asks for (Limits.Within).
	MaxLimits Limits
	Logger    *slog.Logger
}

// DefaultUIDs lies above the ranges useradd and systemd hand out, and below
// the ranges /etc/subuid usually delegates.
var DefaultUIDs = UIDRange{First: 200000, Last: 299999}

// Limits bound a run's processes; zero means no limit.
type Limits struct {
	MemoryBytes int64
	PIDs        int
	CPUs        float64
}

// Within is l bounded by an operator's limits: each of max's that is set
// is a run's default and its ceiling; a project may ask for less, never
// for more, and never for none.
func (l Limits) Within(max Limits) Limits {
	if max.MemoryBytes > 0 && (l.MemoryBytes == 0 || l.MemoryBytes > max.MemoryBytes) {
		l.MemoryBytes = max.MemoryBytes
	}
	if max.PIDs > 0 && (l.PIDs == 0 || l.PIDs > max.PIDs) {
		l.PIDs = max.PIDs
	}
	if max.CPUs > 0 && (l.CPUs == 0 || l.CPUs > max.CPUs) {
		l.CPUs = max.CPUs
	}
	return l
}

// String is the limits as a run's log says them.
func (l Limits) String() string {
	var parts []string
	if l.MemoryBytes > 0 {
		parts = append(parts, fmt.Sprintf("memory %d MiB", l.MemoryBytes>>20))
	}
	if l.PIDs > 0 {
		parts = append(parts, fmt.Sprintf("%d processes", l.PIDs))
	}
	if l.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%g CPUs", l.CPUs))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// UIDRange is an inclusive range of user ids.
type UIDRange struct{ First, Last int }

func (r UIDRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// ParseUIDRange reads "FIRST-LAST".
func ParseUIDRange(s string) (UIDRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || first < 1000 || last < first || last > 1<<31-2 {
		return UIDRange{}, fmt.Errorf("run UIDs %q: want FIRST-LAST with 1000 <= FIRST <= LAST, e.g. %s", s, DefaultUIDs)
	}
	return UIDRange{first, last}, nil
}

// Option adds to what Create makes.
type Option func(*createOptions)

type createOptions struct {
	denied []netip.Prefix
}

// WithDenied refuses prefixes to the run from its first packet, as
// DenyAddresses does on a live sandbox, but in the firewall Create sets
// anyway: one nft run less (~10–20 ms of CPU) when the caller knows them
// before (the runner, its Docker host's addresses). DenyAddresses with the
// same prefixes later does nothing.
func WithDenied(prefixes []netip.Prefix) Option {
	return func(o *createOptions) { o.denied = append(o.denied, prefixes...) }
}
