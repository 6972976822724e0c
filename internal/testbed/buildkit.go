package testbed

import (
	"context"
	"fmt"
	"path/filepath"
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
