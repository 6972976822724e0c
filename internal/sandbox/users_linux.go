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

	"github.com/jetway-dev/jetway/internal/sandbox/sandboxinit"
)

const userPrefix = "jwrun-"

func userName(uid int) string { return userPrefix + strconv.Itoa(uid) }

// The run user is no account of the machine: its passwd and group
// entries exist only in the run's mount namespace, where the init binds
// the sandbox's own copies of /etc/passwd and /etc/group (the machine's,
// plus the run's line) over the machine's. So nothing outside the run can
// log in as it, nor find it, and making and removing it writes nothing to
// the machine's account files (useradd and userdel took ~30 ms of CPU and
// a lock every run). What keeps two runs from sharing a UID is a lease:
// a file named by the UID in leaseDir, made under the machine's lock and
// removed once every process of the UID is gone.

// leaseDir holds a file per run UID in use on this machine, naming the
// sandbox that has it. It is on /run: after a reboot no process of any
// run is left, so neither is a lease.
var leaseDir = "/run/jetway-run-uids"

func leasePath(uid int) string { return filepath.Join(leaseDir, strconv.Itoa(uid)) }

// leased reports whether a sandbox holds uid.
func leased(uid int) bool {
	_, err := os.Lstat(leasePath(uid))
	return err == nil
}

// userExists reports whether uid is a run's (leased) or an account of the
// machine.
func userExists(uid int) bool {
	if leased(uid) {
		return true
	}
	_, err := user.LookupId(strconv.Itoa(uid))
	return err == nil
}

// machineLock serialises taking run UIDs across every runner of the
// machine, whatever their work dirs: two agents of one machine may share a
// UID range.
const machineLock = "/run/lock/jetway-run-users.lock"

// allocateUser leases the next UID of the range that no account, group,
// process or other sandbox uses, and writes the run's passwd and group
// files into dir. The next UID is kept in the work dir, so UIDs go round
// the range and one comes back only after the whole range was used.
func allocateUser(ctx context.Context, cfg Config, dir, home string) (int, error) {
	global, err := os.OpenFile(machineLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 0, fmt.Errorf("the machine's lock of run UIDs: %w", err)
	}
	defer global.Close()
	if err := syscall.Flock(int(global.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(leaseDir, 0o700); err != nil {
		return 0, fmt.Errorf("the run UIDs' leases: %w", err)
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
	passwd, group, err := accountFiles()
	if err != nil {
		return 0, err
	}
	size := cfg.UIDs.Last - cfg.UIDs.First + 1
	for i := 0; i < size; i++ {
		uid := next
		if next++; next > cfg.UIDs.Last {
			next = cfg.UIDs.First
		}
		if busy[uid] || leased(uid) || passwd.has(uid) || group.has(uid) {
			continue
		}
		f, err := os.OpenFile(leasePath(uid), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		} else if err != nil {
			return 0, fmt.Errorf("leasing UID %d: %w", uid, err)
		}
		_, err = f.WriteString(dir + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = writeAccounts(dir, home, uid, passwd, group)
		}
		if err != nil {
			_ = os.Remove(leasePath(uid))
			return 0, err
		}
		if err := lock.Truncate(0); err == nil {
			_, _ = lock.WriteAt([]byte(strconv.Itoa(next)+"\n"), 0)
		}
		return uid, nil
	}
	return 0, fmt.Errorf("no free UID in the run range %s: every one has an account, a process or a run; widen --run-uids", cfg.UIDs)
}

// accountFile is the text of /etc/passwd or /etc/group and the ids in it.
type accountFile struct {
	text []byte
	ids  map[int]bool
}

func (a accountFile) has(id int) bool { return a.ids[id] }

// accountFiles reads the machine's /etc/passwd and /etc/group.
func accountFiles() (passwd, group accountFile, err error) {
	if passwd, err = readAccountFile("/etc/passwd"); err != nil {
		return
	}
	group, err = readAccountFile("/etc/group")
	return
}

func readAccountFile(path string) (accountFile, error) {
	a := accountFile{ids: map[int]bool{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return a, err
	}
	a.text = data
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 3 {
			if id, err := strconv.Atoi(f[2]); err == nil {
				a.ids[id] = true
			}
		}
	}
	return a, nil
}

const (
	passwdFile = sandboxinit.Passwd // in the sandbox dir, bound over /etc/passwd in the run
	groupFile  = sandboxinit.Group  // over /etc/group
)

// writeAccounts writes the run's /etc/passwd and /etc/group: the
// machine's, and the run user and its group. Its passwd home is the run's
// (ssh in a phase reads ~/.ssh from it) and its shell refuses logins.
// Both files are root's, in the root-owned sandbox dir, and the init binds
// them before it makes the machine read-only, so the run cannot change
// them.
func writeAccounts(dir, home string, uid int, passwd, group accountFile) error {
	name, id := userName(uid), strconv.Itoa(uid)
	line := func(text []byte, entry string) []byte {
		out := append([]byte{}, text...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, entry+"\n"...)
	}
	p := line(passwd.text, name+":x:"+id+":"+id+":jetway run in "+dir+":"+home+":"+nologinShell())
	g := line(group.text, name+":x:"+id+":")
	if err := os.WriteFile(filepath.Join(dir, passwdFile), p, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, groupFile), g, 0o644)
}

// releaseUser gives uid back once none of its processes is left.
func releaseUser(uid int) error {
	if err := os.Remove(leasePath(uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// nologinShell is the machine's shell that refuses logins.
func nologinShell() string {
	for _, p := range []string{"/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/false", "/bin/false"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/false"
}

// deleteUser removes an account an earlier jetway made with useradd, and
// its group.
func deleteUser(ctx context.Context, name string) error {
	return retry(ctx, 10*time.Second, func() error {
		out, err := sysCommand(ctx, "userdel", name).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "does not exist") {
			return fmt.Errorf("removing the run user %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
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

// sweepUsers gives back the UIDs of this work dir's sandboxes that are
// gone (a runner died between removing its files and its lease), once
// their processes are killed, and removes the accounts earlier versions
// of jetway made for their runs with useradd.
func sweepUsers(ctx context.Context, workDir string) error {
	var errs []error
	leases, _ := os.ReadDir(leaseDir)
	for _, l := range leases {
		uid, err := strconv.Atoi(l.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(leaseDir, l.Name()))
		if err != nil {
			continue
		}
		dir := strings.TrimSpace(string(data))
		if filepath.Dir(dir) != workDir {
			continue
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			continue // a live sandbox, or one Sweep just handled
		}
		if err := killUser(ctx, uid); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, releaseUser(uid))
	}
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer f.Close()
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
			continue
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
