package sandboxinit

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"unsafe"
)

func init() {
	if len(os.Args) == 3 && os.Args[1] == Arg && os.Getenv("JETWAY_SANDBOX_INIT") == "1" && os.Getpid() == 1 {
		os.Exit(Main(os.Args[2]))
	}
}

// Main is PID 1 of a sandbox: it makes the mounts, says "ready", then
// reaps orphans until it is killed or its parent closes stdin.
func Main(dir string) int {
	if os.Getenv("JETWAY_SANDBOX_INIT") != "1" || os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "sandbox-init is started by jetway's runner, as PID 1 of a new PID namespace")
		return 2
	}
	if err := isolateMounts(dir); err != nil {
		fmt.Printf("mounts: %v\n", err)
		return 1
	}
	fmt.Println("ready")
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)
	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(parentGone)
	}()
	for {
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		select {
		case <-children:
		case <-parentGone:
			return 0
		}
	}
}

// isolateMounts gives the namespace its view of the machine: everything
// read-only and without set-uid except the sandbox's directory, fresh
// tmpfs mounts where programs share files, the run's resolv.conf (naming
// slirp4netns's DNS forwarder), passwd and group over the machine's, and
// a /proc of this PID namespace only.
func isolateMounts(dir string) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s: %w", dir, err)
	}
	// Bound before the machine is made read-only, so the files are too.
	for _, f := range []struct{ name, over string }{{ResolvConf, "/etc/resolv.conf"}, {Passwd, "/etc/passwd"}, {Group, "/etc/group"}} {
		src := filepath.Join(dir, f.name)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := syscall.Mount(src, f.over, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding the run's %s: %w", f.name, err)
		}
	}
	if err := mountSetattr("/", atRecursive, &mountAttr{set: attrRdonly | attrNosuid}); err != nil {
		return fmt.Errorf("making the machine read-only: %w", err)
	}
	if err := mountSetattr(dir, 0, &mountAttr{clr: attrRdonly, set: attrNodev}); err != nil {
		return fmt.Errorf("making %s writable: %w", dir, err)
	}
	for _, d := range PrivateDirs {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue
		}
		if err := syscall.Mount("tmpfs", d, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", d, err)
		}
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	return nil
}

// mount_setattr(2), which package syscall lacks (golang.org/x/sys/unix has
// it, but would initialize after the packages this one runs before).
const (
	atRecursive = 0x8000
	attrRdonly  = 0x1
	attrNosuid  = 0x2
	attrNodev   = 0x4
)

type mountAttr struct{ set, clr, propagation, userns uint64 }

func mountSetattr(path string, flags int, attr *mountAttr) error {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	dirfd := -1 // path is absolute
	_, _, errno := syscall.Syscall6(sysMountSetattr, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags),
		uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
