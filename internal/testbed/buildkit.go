package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// bridgedDockerName is the process name of the bed's bridged dockerd.
const bridgedDockerName = "dockerd-bridged"

// BridgedDocker starts, on the first call, a second dockerd on the remote
// host (in the bed's network namespace) that has a default bridge, and
// returns its socket. The bed's other daemons run with --bridge=none, and
// BuildKit's RUN steps fail there with "network bridge not found"; the
// classic builder does not need one. The socket is on this machine's file
// system, and reachable over the bed's sshd like RemoteSocket:
// ssh://root@RemoteIP/<socket>. Containers on its bridge reach the remote
// host's addresses (its sshd, its registry port) but nothing beyond, as
// the bed sets up no NAT.
func (b *Bed) BridgedDocker(ctx context.Context) (socket string, err error) {
	dir := filepath.Join(b.Dir, "bridged")
	socket = filepath.Join(dir, "docker.sock")
	if p := b.proc(bridgedDockerName); p != nil && alive(p.PID) {
		return socket, nil
	}
	// A later --bridge wins over the --bridge=none of dockerd's defaults:
	// empty means the default docker0.
	if _, err := b.dockerd(ctx, bridgedDockerName, dir, b.NetNS, "--bridge="); err != nil {
		return "", err
	}
	c, err := LocalClient(socket)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := ImportBaseImage(ctx, c); err != nil {
		return "", fmt.Errorf("bridged dockerd: %w", err)
	}
	return socket, b.save()
}

// DockerHostSSHTo is the DOCKER_HOST URL of a daemon socket of the remote
// host over ssh, such as BridgedDocker's.
func (b *Bed) DockerHostSSHTo(socket string) string {
	return fmt.Sprintf("ssh://%s@%s%s", b.SSHUser, b.RemoteIP, socket)
}

// NewBridgedDocker starts another dockerd on the remote host (in the bed's
// network namespace) with an empty data root and a bridge of its own —
// a fresh Docker host on which BuildKit can run RUN steps — and returns
// its socket and a func that stops it and removes everything it stored.
// It has no image, not even BaseImage (ImportBaseImage adds it). extra
// goes to dockerd.
// Its bridge, jwbN on 172.30.N.1/24, is made here, as BridgedDocker's
// docker0 is taken. Like BridgedDocker's, its socket is reachable over
// the bed's sshd (DockerHostSSHTo), and its containers reach the remote
// host's addresses only.
func (b *Bed) NewBridgedDocker(ctx context.Context, name string, extra ...string) (socket string, stop func() error, err error) {
	if b.NetNS == "" {
		return "", nil, errors.New("test bed: a bridged dockerd needs a bed with its network up")
	}
	var bridge string
	for n := 1; n < 250; n++ {
		br := fmt.Sprintf("jwb%d", n)
		err := run(ctx, "ip", "-n", b.NetNS, "link", "add", br, "type", "bridge")
		if err != nil && !strings.Contains(err.Error(), "File exists") {
			return "", nil, err
		}
		if err == nil {
			bridge = br
			if err := run(ctx, "ip", "-n", b.NetNS, "addr", "add", fmt.Sprintf("172.30.%d.1/24", n), "dev", br); err != nil {
				_ = run(ctx, "ip", "-n", b.NetNS, "link", "del", br)
				return "", nil, err
			}
			break
		}
	}
	if bridge == "" {
		return "", nil, errors.New("test bed: no free bridge name in the remote host's namespace")
	}
	if err := run(ctx, "ip", "-n", b.NetNS, "link", "set", bridge, "up"); err != nil {
		return "", nil, err
	}
	dir := filepath.Join(b.Dir, "bridged-"+name)
	procName := "dockerd-bridged-" + name
	stop = func() error {
		if p := b.proc(procName); p != nil {
			_ = syscall.Kill(p.PID, syscall.SIGTERM)
			waitGone([]int{p.PID}, 20*time.Second)
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		for i, p := range b.Procs {
			if p.Name == procName {
				b.Procs = append(b.Procs[:i], b.Procs[i+1:]...)
				break
			}
		}
		var errs []error
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, os.RemoveAll(dir))
		if err := run(context.Background(), "ip", "-n", b.NetNS, "link", "del", bridge); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
		return errors.Join(append(errs, b.save())...)
	}
	defer func() {
		if err != nil {
			_ = stop()
		}
	}()
	if socket, err = b.dockerd(ctx, procName, dir, b.NetNS, append([]string{"--bridge=" + bridge}, extra...)...); err != nil {
		return "", nil, err
	}
	return socket, stop, b.save()
}
