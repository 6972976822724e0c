package sandbox

import (
	"bufio"
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
	"time"
)

const userPrefix = "jwrun-"

func userName(uid int) string { return userPrefix + strconv.Itoa(uid) }

func userExists(uid int) bool {
	_, err := user.LookupId(strconv.Itoa(uid))
	return err == nil
}

// machineLock serialises making run users across every runner of the
// machine, whatever their work dirs: two agents of one machine may share a
// UID range.
const machineLock = "/run/lock/jetway-run-users.lock"

// allocateUser creates the run user with the next UID of the range that no
// account, group or process uses. The next UID is kept in the work dir, so
// UIDs go round the range and one comes back only after the whole range
// was used.
func allocateUser(ctx context.Context, cfg Config, dir, home string) (int, error) {
	if global, err := os.OpenFile(machineLock, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		defer global.Close()
		if err := syscall.Flock(int(global.Fd()), syscall.LOCK_EX); err != nil {
			return 0, err
		}
	}
	lock, err := os.OpenFile(filepath.Join(cfg.WorkDir, ".uids"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	buf := make([]byte, 32)
	n, _ := lock.ReadAt(buf, 0)
	next, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || next < cfg.UIDs.First || next > cfg.UIDs.Last {
		next = cfg.UIDs.First
	}
	busy, err := uidsInUse()
	if err != nil {
		return 0, err
	}
	size := cfg.UIDs.Last - cfg.UIDs.First + 1
	for i := 0; i < size; i++ {
		uid := next
		if next++; next > cfg.UIDs.Last {
			next = cfg.UIDs.First
		}
		if busy[uid] || userExists(uid) {
			continue
		}
		if _, err := user.LookupGroupId(strconv.Itoa(uid)); err == nil {
			continue
		}
		if err := createUser(ctx, uid, dir, home); errors.Is(err, errTaken) {
			continue // made meanwhile by something that does not take our lock
		} else if err != nil {
			return 0, err
		}
		if err := lock.Truncate(0); err == nil {
			_, _ = lock.WriteAt([]byte(strconv.Itoa(next)+"\n"), 0)
		}
		return uid, nil
	}
	return 0, fmt.Errorf("no free UID in the run range %s: every one has an account or a process; widen --run-uids", cfg.UIDs)
}

// createUser adds the run user and its group, with no password. The
// comment names the sandbox, so a sweep knows whose user it is.
func createUser(ctx context.Context, uid int, dir, home string) error {
	name, id := userName(uid), strconv.Itoa(uid)
	return retry(ctx, 10*time.Second, func() error {
		if out, err := sysCommand(ctx, "groupadd", "--gid", id, name).CombinedOutput(); err != nil && !strings.Contains(string(out), "already exists") {
			if strings.Contains(string(out), "not unique") {
				return errTaken
			}
			return fmt.Errorf("creating the run group %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		// The account expired long ago and has no login shell: its passwd
		// home is the run's (so ssh in a phase finds ~/.ssh), and a phase
		// that writes ~/.ssh/authorized_keys must not log in through the
		// machine's sshd, outside its namespaces. Phases never log in;
		// they are started as the UID.
		out, err := sysCommand(ctx, "useradd", "--uid", id, "--gid", id, "--no-create-home", "--home-dir", home,
			"--shell", nologinShell(), "--expiredate", "1", "--comment", "jetway run in "+dir, name).CombinedOutput()
		if err != nil && strings.Contains(string(out), "not unique") {
			return errTaken
		}
		if err != nil {
			return fmt.Errorf("creating the run user %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// errTaken is a UID or GID that another account has.
var errTaken = errors.New("UID or GID taken")

// nologinShell is the machine's shell that refuses logins.
func nologinShell() string {
	for _, p := range []string{"/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/false", "/bin/false"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/false"
}

// deleteUser removes the run user and its group.
func deleteUser(ctx context.Context, name string) error {
	return retry(ctx, 10*time.Second, func() error {
		out, err := sysCommand(ctx, "userdel", name).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "does not exist") {
			return fmt.Errorf("removing the run user %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		// userdel removes a user's private group; one left by a failed
		// useradd goes here.
		_ = sysCommand(ctx, "groupdel", name).Run()
		return nil
	})
}

// uidsInUse are the UIDs (real, effective, saved or filesystem) of every
// process on the machine.
func uidsInUse() (map[int]bool, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	busy := map[int]bool{}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		for _, uid := range processUIDs(p.Name()) {
			busy[uid] = true
		}
	}
	return busy, nil
}

func processUIDs(pid string) []int {
	f, err := os.Open(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return nil // gone
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "Uid:"); ok {
			var uids []int
			for _, f := range strings.Fields(rest) {
				if n, err := strconv.Atoi(f); err == nil {
					uids = append(uids, n)
				}
			}
			return uids
		}
	}
	return nil
}

// ProcessesOf lists the processes that have uid as any of their UIDs.
func ProcessesOf(uid int) []int {
	procs, _ := os.ReadDir("/proc")
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		for _, u := range processUIDs(p.Name()) {
			if u == uid {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// killUser kills every process of uid until none is left. The kill is
// sent by a process of that very UID with kill(-1), which the kernel
// delivers to all of them in one pass, so a process that forks as fast as
// it can has no window to escape, as it has between a scan of /proc and a
// kill of each pid.
func killUser(ctx context.Context, uid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := ProcessesOf(uid)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("processes of UID %d still running: %v", uid, pids)
		}
		kill := sysCommand(ctx, "/bin/sh", "-c", "kill -KILL -1")
		kill.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		_ = kill.Run() // it kills itself too
		time.Sleep(5 * time.Millisecond)
	}
}

// sweepUsers removes run users whose sandbox, in workDir, is gone (a
// runner died between removing its files and its user).
func sweepUsers(ctx context.Context, workDir string) error {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return err
	}
	defer f.Close()
	var errs []error
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) < 6 || !strings.HasPrefix(fields[0], userPrefix) {
			continue
		}
		dir, ok := strings.CutPrefix(fields[4], "jetway run in ")
		if !ok || filepath.Dir(dir) != workDir {
			continue
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			continue // a live sandbox, or one Sweep just handled
		}
		uid, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		if err := killUser(ctx, uid); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, deleteUser(ctx, fields[0]))
	}
	return errors.Join(errs...)
}

// sysCommand runs a system tool with nothing of the runner's environment:
// the kill in killUser runs as the run's UID, and /proc/PID/environ of a
// process is readable by its UID (the runner's run token is in its own).
func sysCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Dir = "/"
	return cmd
}
