package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Sandbox is one run's fresh machine on this host.
type Sandbox struct {
	Dir       string // 0711, root-owned
	Home      string // the run user's, 0700
	Workspace string // the run user's, 0700
	UID, GID  int
	User      string // "" when commands run as the invoking user
	// Limits are what applies to the run: its project's within the
	// operator's.
	Limits Limits
	// Notes say what is not isolated or limited, for the run's log.
	Notes []string

	log     *slog.Logger
	lock    *os.File // flock held while the sandbox lives; Sweep takes what nobody holds
	init    *exec.Cmd
	initIn  io.WriteCloser
	net     *network // the run's slirp4netns
	cgroups []string
	created bool // the run's UID is leased
}

func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UIDs == (UIDRange{}) {
		c.UIDs = DefaultUIDs
	}
	if c.WorkDir == "" {
		c.WorkDir = filepath.Join(os.TempDir(), "jetway-work")
		if os.Geteuid() == 0 {
			c.WorkDir = "/var/lib/jetway-runs"
		}
	}
	abs, err := filepath.Abs(c.WorkDir)
	if err != nil {
		return c, err
	}
	c.WorkDir = abs
	if c.Self == "" {
		if c.Self, err = os.Executable(); err != nil {
			return c, fmt.Errorf("finding this binary for the sandbox init: %w", err)
		}
	}
	if os.Geteuid() == 0 {
		for _, tmp := range privateDirs {
			if c.WorkDir == tmp || strings.HasPrefix(c.WorkDir, tmp+"/") {
				return c, fmt.Errorf("work dir %s lies under %s, which every sandbox replaces with its own tmpfs; choose another (e.g. /var/lib/jetway-runs)", c.WorkDir, tmp)
			}
		}
	}
	return c, nil
}

// Create makes a run's sandbox. As root it also creates the run user,
// starts the namespaces and applies the limits; on any error it removes
// what it made.
func Create(ctx context.Context, cfg Config, runID string, limits Limits, opts ...Option) (*Sandbox, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var o createOptions
	for _, opt := range opts {
		opt(&o)
	}
	if _, _, err := splitPrefixes(o.denied); err != nil {
		return nil, fmt.Errorf("denying addresses to the run: %w", err)
	}
	// Descriptors this process inherited without close-on-exec would pass
	// through every exec into the run (a phase read one with cat <&7).
	// Go's own have the flag; set it on everything else.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("closing inherited descriptors on exec: %w", err)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o711); err != nil {
		return nil, fmt.Errorf("creating the work dir: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := searchable(cfg.WorkDir); err != nil {
			return nil, err
		}
		// The runner reads the workspace as root beneath its root, never
		// following a link; a hard link is no link to follow, and only
		// this setting stops a phase from linking a root-only file in.
		if v, err := os.ReadFile("/proc/sys/fs/protected_hardlinks"); err == nil && strings.TrimSpace(string(v)) != "1" {
			return nil, errors.New("fs.protected_hardlinks is off: a phase could hard-link files of other users into its workspace, which the runner reads as root; turn it on (sysctl -w fs.protected_hardlinks=1, and in /etc/sysctl.d) before running runs")
		}
	}
	dir, lock, err := newSandboxDir(cfg.WorkDir, runID)
	if err != nil {
		return nil, fmt.Errorf("creating the sandbox: %w", err)
	}
	limits = limits.Within(cfg.MaxLimits)
	sb := &Sandbox{Dir: dir, lock: lock, Home: filepath.Join(dir, "home"), Workspace: filepath.Join(dir, "workspace"),
		UID: os.Getuid(), GID: os.Getgid(), Limits: limits, log: cfg.Logger}
	if err := sb.setUp(ctx, cfg, limits, o); err != nil {
		_ = sb.Remove(context.WithoutCancel(ctx))
		return nil, err
	}
	return sb, nil
}

func (sb *Sandbox) setUp(ctx context.Context, cfg Config, limits Limits, o createOptions) error {
	if err := os.Chmod(sb.Dir, 0o711); err != nil {
		return err
	}
	root := os.Geteuid() == 0
	var tools netTools
	if root {
		// Checked first: a run is never made without a network of its own.
		var err error
		if tools, err = findNetTools(cfg); err != nil {
			return err
		}
		uid, err := allocateUser(ctx, cfg, sb.Dir, sb.Home)
		if err != nil {
			return err
		}
		sb.created = true
		sb.UID, sb.GID, sb.User = uid, uid, userName(uid)
		if _, err := sb.lock.WriteString(strconv.Itoa(uid) + "\n"); err != nil {
			return err
		}
	}
	for _, d := range []string{sb.Home, sb.Workspace} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, sb.UID, sb.GID); err != nil {
			return err
		}
	}
	if !root {
		sb.Notes = append(sb.Notes, "not running as root, so the run is not isolated: commands run as the invoking user, see its files and processes, share /tmp, and may leave processes behind")
		if limits != (Limits{}) {
			sb.Notes = append(sb.Notes, "limits: ignored (setting them needs root)")
		}
		return nil
	}
	if err := writeResolvConf(sb.Dir); errors.Is(err, errNoResolvConf) {
		sb.Notes = append(sb.Notes, "DNS: "+err.Error())
	} else if err != nil {
		return err
	}
	if err := sb.startInit(ctx, cfg.Self); err != nil {
		return err
	}
	if err := sb.startNetwork(ctx, tools, o.denied); err != nil {
		return err
	}
	return sb.limit(limits)
}

// Command runs name inside the sandbox (its PID, mount, IPC and network
// namespaces) as the run user, in the workspace. The caller sets Env,
// output and SysProcAttr.Setpgid as it needs; the command's own process is
// nsenter, whose child is the command.
func (sb *Sandbox) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if sb.init == nil {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = sb.Workspace
		return cmd
	}
	argv := []string{"nsenter", "--target", strconv.Itoa(sb.init.Process.Pid), "--pid", "--mount", "--ipc", "--net",
		"--setuid", strconv.Itoa(sb.UID), "--setgid", strconv.Itoa(sb.GID), "--wdns=" + sb.Workspace, "--", name}
	argv = append(argv, args...)
	if len(sb.cgroups) > 0 {
		// nsenter's children are not the init's: each command joins the
		// run's cgroups itself, as root, before it enters the namespaces.
		// It also makes itself and what it starts the OOM killer's first
		// choice: at the run's memory limit a phase's process must go, not
		// the init (whose own -1000 a machine in a container may refuse),
		// whose end would end the run without a word.
		wrapper := []string{"/bin/sh", "-c", `echo 1000 > /proc/self/oom_score_adj; while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"`, "sh"}
		for _, cg := range sb.cgroups {
			wrapper = append(wrapper, filepath.Join(cg, "cgroup.procs"))
		}
		argv = append(append(wrapper, "--"), argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	return cmd
}

// Isolated reports whether the run has its own user and namespaces.
func (sb *Sandbox) Isolated() bool { return sb.init != nil }

// Remove ends everything of the run: its processes (the init's exit kills
// its PID namespace), its network (slirp4netns, and with it the network
// namespace), its cgroups, files (secrets included) and user. It is safe to
// call on a half-made sandbox.
func (sb *Sandbox) Remove(ctx context.Context) error {
	var errs []error
	// The network first: its firewall is reached through the init's pid,
	// which stays the init's (a zombie at worst) until stopInit reaps it.
	if sb.net != nil {
		sb.stopNetwork()
	}
	if sb.init != nil {
		sb.stopInit()
	}
	var killed error
	if sb.created {
		// Nothing of the run should be left once its namespace is gone;
		// this catches what a failed start left behind.
		if killed = killUser(ctx, sb.UID); killed != nil {
			errs = append(errs, killed)
		}
	}
	for _, cg := range sb.cgroups {
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
		}
	}
	if sb.created && killed == nil {
		// Only once none of its processes is left may the UID go to
		// another run.
		if err := releaseUser(sb.UID); err != nil {
			errs = append(errs, err)
		}
	}
	// RemoveAll removes beneath open directories without following links.
	if err := os.RemoveAll(sb.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", sb.Dir, err))
	}
	if sb.lock != nil {
		sb.lock.Close()
	}
	return errors.Join(errs...)
}

const lockFile = ".lock"

// newSandboxDir makes a run's directory, locked, under the name Sweep
// looks at only once it is locked: it is made as new-*, its lock taken,
// and then renamed to run-*, so that a Sweep of another runner of this
// work dir never takes a sandbox being made for a dead one.
func newSandboxDir(workDir, runID string) (string, *os.File, error) {
	tmp, err := os.MkdirTemp(workDir, "new-"+runID+"-")
	if err != nil {
		return "", nil, err
	}
	lock, err := os.OpenFile(filepath.Join(tmp, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	dir := filepath.Join(workDir, "run-"+strings.TrimPrefix(filepath.Base(tmp), "new-"))
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return dir, lock, nil
}

// searchable checks that run users can reach their sandboxes: the work dir
// and every directory above it must let others pass (x). A work dir inside
// the server's data dir (0700) would not.
func searchable(dir string) error {
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("work dir %s: run users cannot pass through %s (mode %04o); choose a work dir outside it (not inside the server's data dir), or chmod o+x %s", dir, d, fi.Mode().Perm(), d)
		}
		if d == "/" {
			return nil
		}
	}
}

// Sweep removes what sandboxes of crashed runners left in the work dir:
// their processes, cgroups, users and files. A live sandbox holds the lock
// on its directory, so sandboxes of running runners are left alone.
func Sweep(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(cfg.WorkDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if info, err := e.Info(); err == nil && e.IsDir() && strings.HasPrefix(e.Name(), "new-") && time.Since(info.ModTime()) > time.Minute {
			// A runner died while it made this one; nothing lives in it.
			errs = append(errs, os.RemoveAll(filepath.Join(cfg.WorkDir, e.Name())))
			continue
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "run-") {
			continue
		}
		dir := filepath.Join(cfg.WorkDir, e.Name())
		lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
		if err != nil {
			errs = append(errs, os.RemoveAll(dir)) // never got as far as a user
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			lock.Close() // alive
			continue
		}
		sb := &Sandbox{Dir: dir, lock: lock, log: cfg.Logger}
		if line, _ := bufio.NewReader(lock).ReadString('\n'); strings.TrimSpace(line) != "" {
			if uid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
				sb.UID, sb.GID, sb.User, sb.created = uid, uid, userName(uid), userExists(uid)
			}
		}
		sb.cgroups = existingCgroups(e.Name())
		cfg.Logger.Info("removing the sandbox of a runner that died", "dir", dir, "user", sb.User)
		errs = append(errs, sb.Remove(ctx))
	}
	errs = append(errs, sweepUsers(ctx, cfg.WorkDir))
	return errors.Join(errs...)
}

// retry runs f until it succeeds, ctx ends or the time is up; for tools
// that fail while another holds a lock (userdel).
func retry(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
