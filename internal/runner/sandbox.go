package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// sandbox is a run's fresh machine on this host: a home, a workspace and,
// when jetway runs as root, a user of its own whose passwd home is that
// home (OpenSSH reads ~/.ssh from the passwd entry, not from $HOME).
type sandbox struct {
	dir       string // 0711, root-owned
	home      string
	workspace string
	socket    string // the Docker proxy the phases talk to
	user      string // "" when phases run as the invoking user
	uid, gid  int
	created   bool // the user was created for this run
}

func newSandbox(ctx context.Context, runID string) (*sandbox, error) {
	dir, err := os.MkdirTemp("", "jetway-run-"+runID+"-")
	if err != nil {
		return nil, err
	}
	sb := &sandbox{dir: dir, home: filepath.Join(dir, "home"), workspace: filepath.Join(dir, "workspace"), socket: filepath.Join(dir, "docker.sock"), uid: os.Getuid(), gid: os.Getgid()}
	if err := os.Chmod(dir, 0o711); err != nil {
		sb.remove(ctx)
		return nil, err
	}
	if os.Geteuid() == 0 {
		sb.user = "jwrun-" + runID
		if err := createUser(ctx, sb.user, sb.home); err != nil {
			sb.remove(ctx)
			return nil, err
		}
		sb.created = true
		u, err := user.Lookup(sb.user)
		if err != nil {
			sb.remove(ctx)
			return nil, err
		}
		sb.uid, _ = strconv.Atoi(u.Uid)
		sb.gid, _ = strconv.Atoi(u.Gid)
	}
	for _, d := range []string{sb.home, sb.workspace} {
		if err := os.Mkdir(d, 0o700); err != nil {
			sb.remove(ctx)
			return nil, err
		}
		if err := os.Chown(d, sb.uid, sb.gid); err != nil {
			sb.remove(ctx)
			return nil, err
		}
	}
	return sb, nil
}

// createUser adds a system user with no password and the given home.
func createUser(ctx context.Context, name, home string) error {
	out, err := exec.CommandContext(ctx, "useradd", "--system", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh", "--user-group", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("creating the run user %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// writeFile writes data as a file of the run user.
func (sb *sandbox) writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	for d := filepath.Dir(path); strings.HasPrefix(d, sb.home) && d != sb.home; d = filepath.Dir(d) {
		if err := os.Chown(d, sb.uid, sb.gid); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return os.Chown(path, sb.uid, sb.gid)
}

// credential makes a command run as the run user.
func (sb *sandbox) credential() *syscall.Credential {
	if sb.user == "" {
		return nil
	}
	return &syscall.Credential{Uid: uint32(sb.uid), Gid: uint32(sb.gid)}
}

// remove deletes everything of the run: its processes, files (secrets
// included) and user.
func (sb *sandbox) remove(ctx context.Context) error {
	var errs []error
	if sb.created {
		// A phase may have left background processes behind.
		_ = exec.CommandContext(ctx, "pkill", "-KILL", "-u", sb.user).Run()
	}
	if err := os.RemoveAll(sb.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", sb.dir, err))
	}
	if sb.created {
		if out, err := exec.CommandContext(ctx, "userdel", sb.user).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("removing the run user %s: %v: %s", sb.user, err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}
