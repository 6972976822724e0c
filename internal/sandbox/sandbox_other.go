//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
)

// errNeedsLinux is what the privileged parts say on other systems.
var errNeedsLinux = errors.New("run isolation (run users, namespaces, limits) needs Linux")

// Sandbox is one run's directory on this machine. Outside Linux it is
// never isolated: commands run as the invoking user, which is what
// `jetway run` on a laptop needs; servers and agents, which isolate
// their runs, run on Linux only.
type Sandbox struct {
	Dir       string
	Home      string
	Workspace string
	UID, GID  int
	User      string // always "": commands run as the invoking user
	// Limits are what the run asked for; nothing enforces them here.
	Limits Limits
	// Notes say what is not isolated or limited, for the run's log.
	Notes []string
}

// Create makes a run's directory with its home and workspace.
func Create(_ context.Context, cfg Config, runID string, limits Limits, _ ...Option) (*Sandbox, error) {
	workDir := cfg.WorkDir
	if workDir == "" {
		workDir = filepath.Join(os.TempDir(), "jetway-work")
	}
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the work dir: %w", err)
	}
	dir, err := os.MkdirTemp(workDir, "run-"+runID+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the sandbox: %w", err)
	}
	limits = limits.Within(cfg.MaxLimits)
	sb := &Sandbox{Dir: dir, Home: filepath.Join(dir, "home"), Workspace: filepath.Join(dir, "workspace"),
		UID: os.Getuid(), GID: os.Getgid(), Limits: limits}
	for _, d := range []string{sb.Home, sb.Workspace} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	sb.Notes = append(sb.Notes, "not running on Linux, so the run is not isolated: commands run as the invoking user, see its files and processes, share its temporary directory, and may leave processes behind")
	if limits != (Limits{}) {
		sb.Notes = append(sb.Notes, "limits: ignored ("+errNeedsLinux.Error()+")")
	}
	return sb, nil
}

// Command runs name in the workspace as the invoking user.
func (sb *Sandbox) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = sb.Workspace
	return cmd
}

// Isolated is always false outside Linux.
func (sb *Sandbox) Isolated() bool { return false }

// DenyAddresses checks prefixes and does nothing else: a sandbox that is
// not isolated has no network of its own to deny them in.
func (sb *Sandbox) DenyAddresses(_ context.Context, prefixes []netip.Prefix) error {
	for _, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("denying addresses to the run: invalid prefix %v", p)
		}
	}
	return nil
}

// Remove removes the run's files.
func (sb *Sandbox) Remove(context.Context) error {
	if err := os.RemoveAll(sb.Dir); err != nil {
		return fmt.Errorf("removing %s: %w", sb.Dir, err)
	}
	return nil
}

// Sweep does nothing outside Linux: no runner there leaves users,
// namespaces or cgroups behind, and `jetway run` removes its directory.
func Sweep(context.Context, Config) error { return nil }

// RunInitIfAsked does nothing outside Linux, where there is no sandbox
// init to be.
func RunInitIfAsked() {}

// InitMain refuses: there are no namespaces to hold outside Linux.
func InitMain(string) int {
	slog.Error(InitArg + ": " + errNeedsLinux.Error())
	return 2
}

// ProcessesOf finds nothing outside Linux, where runs have no user of
// their own.
func ProcessesOf(int) []int { return nil }
