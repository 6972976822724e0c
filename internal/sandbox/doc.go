// Package sandbox is the only privileged code on a runner machine. For each
// run it creates, as root:
//
//   - a directory in the work dir holding the run's home and workspace;
//   - a user of its own with a UID from a dedicated range (never one the
//     system, another run or a process still uses), leased in
//     /run/jetway-run-uids under the machine's lock. It is no account of
//     the machine: the run's own /etc/passwd and /etc/group (the machine's
//     plus its line) are bound over the machine's in its mount namespace,
//     so that inside the run its passwd home is that home, because
//     OpenSSH reads ~/.ssh from the passwd entry, not from $HOME, and its
//     shell refuses logins; outside the run nothing can log in as it;
//   - PID, mount and IPC namespaces held by a small init process (this
//     binary's `sandbox-init`): the run's processes see only each other in
//     /proc, get fresh tmpfs mounts on /tmp, /var/tmp and /dev/shm, and find
//     the rest of the machine read-only and without set-uid, except the run's
//     own directory. When the run ends the init exits, and the kernel kills
//     every process left in its PID namespace, fork-hoppers included;
//   - a network namespace of its own, also held by the init: a loopback of
//     its own (the machine's 127.0.0.1 is not the run's), and IPv4 out to
//     whatever the machine's routes reach, through slirp4netns. Names
//     resolve through slirp4netns's forwarder at 10.0.2.3, which the run's
//     /etc/resolv.conf (bound over the machine's) names, to the machine's
//     resolver. An nftables firewall, set as root inside the namespace
//     where the run user cannot change it, refuses the machine's own
//     addresses (those it gains while the run lives too), slirp4netns's
//     gateway 10.0.2.2 and the rest of its network but DNS, link-local
//     addresses (cloud metadata at 169.254.169.254 and fd00:ec2::254), and
//     what DenyAddresses adds (the run's Docker host). Runs get no IPv6
//     beyond their loopback: slirp4netns's is experimental, on a fixed
//     fd00::/64 that may be the machine's own;
//   - optional memory and process limits through cgroups (v1 or v2).
//
// Without root none of this is possible: commands then run as the invoking
// user, and Notes says what is not isolated. The same holds on systems other
// than Linux (sandbox_other.go), where `jetway run` still runs a project on a
// laptop, unisolated, and nothing else makes sandboxes. As root, a sandbox is never
// made without its own network: without slirp4netns or nft, Create fails.
//
// The kernel and util-linux do the work (CLONE_NEW* through SysProcAttr,
// mount_setattr, nsenter); there is no daemon. Commands enter a running
// sandbox with nsenter, since Go cannot join a PID or mount namespace from
// its multi-threaded runtime.
//
// slirp4netns (Debian's package; what rootless Podman uses) rather than a
// veth pair with NAT: it is a user-mode TCP/IP stack, a child of the runner
// that turns the run's packets into ordinary sockets of its own, so the
// machine needs no forwarding, NAT rules, routes or address plan, and a
// runner that dies (Pdeathsig, and its exit fd) leaves nothing in the
// machine's network to clean up. Those sockets are the machine's, which is
// why the firewall sits inside the run's namespace, before slirp4netns sees
// a packet. slirp4netns drops its capabilities and confines itself
// (--enable-sandbox, --enable-seccomp), since it parses the run's packets.
//
// Usage:
//
//	sb, err := sandbox.Create(ctx, cfg, runID, sandbox.Limits{PIDs: 512}, sandbox.WithDenied(dockerHostPrefixes))
//	defer sb.Remove(context.WithoutCancel(ctx))
//	err = sb.DenyAddresses(ctx, moreDockerHostPrefixes) // on a live sandbox
//	cmd := sb.Command(ctx, "/bin/sh", "-c", "make test")
//	cmd.Env = env
//	err = cmd.Run()
package sandbox
