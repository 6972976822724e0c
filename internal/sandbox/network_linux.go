package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jetway-dev/jetway/internal/sandbox/sandboxinit"
)

// slirp4netns's network inside the run's namespace (its defaults): the run
// is 10.0.2.100 on tap0, 10.0.2.2 is the gateway (slirp's alias for the
// machine) and 10.0.2.3 forwards DNS to the machine's resolver.
const (
	slirpTap     = "tap0"
	slirpNetwork = "10.0.2.0/24"
	slirpDNS     = "10.0.2.3"
	// The largest MTU slirp4netns takes; it moves bulk data (image layers,
	// package downloads) in far fewer, cheaper packets than 1500.
	slirpMTU = "65520"
)

// nftTable is the run's firewall table inside its namespace.
const nftTable = "jetway"

// resolvConf is the file in the sandbox directory that the init binds over
// /etc/resolv.conf.
const resolvConf = sandboxinit.ResolvConf

// systemDirs is where the system tools are looked for, whatever the
// runner's PATH.
var systemDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// netTools are the programs that make a run's network.
type netTools struct {
	slirp4netns, nft string
}

// findNetTools finds slirp4netns and nft. Without them a run would share
// the machine's network, so their absence is an error, never a note.
func findNetTools(cfg Config) (netTools, error) {
	var tools netTools
	var err error
	if tools.slirp4netns, err = findTool(cfg.Slirp4netns, "slirp4netns", "slirp4netns"); err != nil {
		return tools, err
	}
	if tools.nft, err = findTool("", "nft", "nftables"); err != nil {
		return tools, err
	}
	return tools, nil
}

func findTool(configured, name, pkg string) (string, error) {
	candidates := []string{configured}
	if configured == "" {
		candidates = nil
		for _, d := range systemDirs {
			candidates = append(candidates, filepath.Join(d, name))
		}
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (looked for %s): isolated runs need it for a network of their own and are refused without it; install it with apt-get install %s", name, strings.Join(candidates, ", "), pkg)
}

// network is a run's slirp4netns, and what keeps its firewall up to date.
type network struct {
	cmd    *exec.Cmd
	exit   *os.File // the write end of its exit fd: closing it ends slirp4netns
	stderr *tailBuffer
	nft    string
	// watch follows the machine's address changes; closing it ends the
	// goroutine that adds new addresses to the firewall, which closes
	// watched when done.
	watch   *os.File
	watched chan struct{}
	// denied are the prefixes the firewall refuses besides the machine's,
	// as nft writes them (splitPrefixes).
	denied map[string]bool
}

// startNetwork gives the init's empty network namespace its firewall and
// then its link to the world. The rules are in place before the first
// packet can leave; phases start only after Create returns.
func (sb *Sandbox) startNetwork(ctx context.Context, tools netTools, denied []netip.Prefix) error {
	// Subscribed before the addresses are read, so that none added in
	// between is missed.
	watch, err := watchAddresses()
	if err != nil {
		return fmt.Errorf("following this machine's addresses for the run's firewall: %w", err)
	}
	machine, err := machinePrefixes()
	if err == nil {
		err = runNft(ctx, tools.nft, sb.init.Process.Pid, firewall(machine, denied))
	}
	if err != nil {
		watch.Close()
		return fmt.Errorf("setting the run's firewall: %w", err)
	}
	if err := sb.startSlirp(ctx, tools); err != nil {
		watch.Close()
		return fmt.Errorf("starting the run's network: %w", err)
	}
	sb.net.watch, sb.net.watched = watch, make(chan struct{})
	sb.net.denied = map[string]bool{}
	v4, v6, _ := splitPrefixes(denied)
	for _, p := range append(v4, v6...) {
		sb.net.denied[p] = true
	}
	go sb.net.followAddresses(sb.log, sb.init.Process.Pid, machine)
	return nil
}

// watchAddresses subscribes to the kernel's news of addresses and routes
// of the machine (an address brings a local route; `ip route add local`
// makes one alone).
func watchAddresses() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	groups := uint32(unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so that Go's poller waits for it and Close ends a Read.
	return os.NewFile(uintptr(fd), "netlink route events"), nil
}

// followAddresses adds every address the machine gains while the run
// lives to its firewall: a machine that gets a new address (DHCP, a
// bridge, a VPN) must not open a way back to itself. Addresses the machine
// loses stay refused. A new address is refused within the few
// milliseconds it takes to read the tables and run nft.
func (n *network) followAddresses(log *slog.Logger, pid int, known []netip.Prefix) {
	defer close(n.watched)
	buf := make([]byte, 64<<10)
	for {
		if _, err := n.watch.Read(buf); errors.Is(err, os.ErrClosed) {
			return
		} else if err != nil && !errors.Is(err, unix.ENOBUFS) {
			// ENOBUFS: news were lost, which the tables read next make up for.
			log.Error("following the machine's addresses for the run's firewall", "err", err)
			return
		}
		now, err := machinePrefixes()
		if err != nil {
			log.Error("reading the machine's addresses for the run's firewall", "err", err)
			continue
		}
		var added []netip.Prefix
		for _, p := range now {
			if !slices.ContainsFunc(known, func(k netip.Prefix) bool { return k.Contains(p.Addr()) && k.Bits() <= p.Bits() }) {
				added = append(added, p)
			}
		}
		if len(added) == 0 {
			continue
		}
		if err := runNft(context.Background(), n.nft, pid, addElements("machine", added)); err != nil {
			log.Error("adding the machine's new addresses to the run's firewall", "addresses", added, "err", err)
			continue
		}
		known = outermost(append(known, added...))
	}
}

func (sb *Sandbox) startSlirp(ctx context.Context, tools netTools) error {
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		exitR.Close()
		exitW.Close()
		return err
	}
	defer readyR.Close()
	cmd := exec.Command(tools.slirp4netns,
		"--configure", "--mtu="+slirpMTU,
		// 10.0.2.2 would otherwise lead to the machine's 127.0.0.1.
		"--disable-host-loopback",
		// slirp4netns parses the run's packets as root: it drops its
		// capabilities, sees an almost empty file system and makes only
		// the system calls it needs.
		"--enable-sandbox", "--enable-seccomp",
		"--exit-fd=3", "--ready-fd=4",
		strconv.Itoa(sb.init.Process.Pid), slirpTap)
	cmd.ExtraFiles = []*os.File{exitR, readyW}
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Dir = "/"
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// slirp4netns's --enable-sandbox makes only / private before it
		// unmounts the old root: in the machine's mount namespace that
		// unmount reached every shared mount of the machine (`ip netns`'s
		// /run/netns/* vanished while a run started). It starts in a mount
		// namespace of its own, where Go makes every mount private first.
		Unshareflags: syscall.CLONE_NEWNS,
		// Should the runner die, slirp4netns dies too (its exit fd also
		// closes then), and the namespace goes with its last holder.
		Pdeathsig: syscall.SIGKILL,
		Setsid:    true,
	}
	err = cmd.Start()
	exitR.Close()
	readyW.Close()
	if err != nil {
		exitW.Close()
		return err
	}
	sb.net = &network{cmd: cmd, exit: exitW, stderr: stderr, nft: tools.nft}
	ready := make(chan error, 1)
	go func() {
		// slirp4netns writes "1" once tap0 is configured; EOF if it exits.
		_, err := readyR.Read(make([]byte, 1))
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return nil
		}
		sb.stopNetwork()
		return fmt.Errorf("slirp4netns exited: %s", strings.TrimSpace(stderr.String()))
	case <-time.After(10 * time.Second):
		sb.stopNetwork()
		return fmt.Errorf("slirp4netns did not configure the network within 10s: %s", strings.TrimSpace(stderr.String()))
	case <-ctx.Done():
		sb.stopNetwork()
		return context.Cause(ctx)
	}
}

// stopNetwork ends slirp4netns: it exits when its exit fd closes, and is
// killed if it has not within 5 s.
func (sb *Sandbox) stopNetwork() {
	n := sb.net
	sb.net = nil
	if n.watch != nil {
		n.watch.Close()
		<-n.watched
	}
	n.exit.Close()
	done := make(chan struct{})
	go func() {
		_ = n.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		sb.log.Warn("slirp4netns did not exit when told; killing it", "pid", n.cmd.Process.Pid)
		_ = n.cmd.Process.Kill()
		<-done
	}
}

// DenyAddresses keeps the run from reaching prefixes (IPv4 or IPv6; IPv4
// written as IPv6 counts as IPv4), on top of what every run is denied: the
// runner calls it with the addresses of the run's Docker host, which the
// run reaches only through the runner's proxy. It works on a live sandbox,
// cuts connections already open to those addresses, and may be called
// again with more. It does nothing on a sandbox that is not isolated.
func (sb *Sandbox) DenyAddresses(ctx context.Context, prefixes []netip.Prefix) error {
	if _, _, err := splitPrefixes(prefixes); err != nil {
		return fmt.Errorf("denying addresses to the run: %w", err)
	}
	if sb.init == nil || sb.net == nil || len(prefixes) == 0 {
		return nil
	}
	var fresh []netip.Prefix
	for _, p := range prefixes {
		if v4, v6, _ := splitPrefixes([]netip.Prefix{p}); !sb.net.denied[strings.Join(append(v4, v6...), "")] {
			fresh = append(fresh, p)
		}
	}
	if len(fresh) == 0 {
		return nil // denied since Create
	}
	if err := runNft(ctx, sb.net.nft, sb.init.Process.Pid, addElements("denied", fresh)); err != nil {
		return fmt.Errorf("denying %v to the run: %w", fresh, err)
	}
	v4, v6, _ := splitPrefixes(fresh)
	for _, p := range append(v4, v6...) {
		sb.net.denied[p] = true
	}
	return nil
}

// splitPrefixes writes prefixes as nft set elements, IPv4 and IPv6 apart.
func splitPrefixes(prefixes []netip.Prefix) (v4, v6 []string, err error) {
	for _, p := range prefixes {
		if !p.IsValid() {
			return nil, nil, fmt.Errorf("invalid address prefix %q", p.String())
		}
		addr, bits := p.Addr(), p.Bits()
		if addr.Is4In6() {
			if bits < 96 {
				return nil, nil, fmt.Errorf("address prefix %s spans IPv4-mapped and other IPv6 addresses", p)
			}
			addr, bits = addr.Unmap(), bits-96
		}
		masked := netip.PrefixFrom(addr, bits).Masked()
		if addr.Is4() {
			v4 = append(v4, masked.String())
		} else {
			v6 = append(v6, masked.String())
		}
	}
	return v4, v6, nil
}

// addElements is the nft script that adds prefixes to the sets set4 and
// set6 of the run's table; they must be valid (splitPrefixes).
func addElements(set string, prefixes []netip.Prefix) string {
	v4, v6, _ := splitPrefixes(prefixes)
	var script strings.Builder
	if len(v4) > 0 {
		fmt.Fprintf(&script, "add element inet %s %s4 { %s }\n", nftTable, set, strings.Join(v4, ", "))
	}
	if len(v6) > 0 {
		fmt.Fprintf(&script, "add element inet %s %s6 { %s }\n", nftTable, set, strings.Join(v6, ", "))
	}
	return script.String()
}

// firewall is the run's nftables ruleset. It filters what the run sends,
// before slirp4netns turns it into connections of the machine: those
// connections come from the machine itself, so anything listening on the
// machine, even on 127.0.0.1 behind slirp's gateway, would take them as
// local. Allowed: the run's own loopback, and DNS to slirp's forwarder.
// Refused: the rest of slirp's network (the gateway, and the broadcast
// address, which slirp also maps to the machine's loopback), link-local
// addresses (cloud metadata services at 169.254.169.254 and
// fd00:ec2::254), every address of the machine, and what DenyAddresses
// adds. Everything else goes out as it would from the machine.
//
// Refused packets get an ICMP "administratively prohibited", so a phase
// fails at once rather than waiting for a timeout. No rule accepts
// established connections: a denied address is cut even mid-connection.
func firewall(machine, denied []netip.Prefix) string {
	v4, v6, _ := splitPrefixes(machine)
	d4, d6, _ := splitPrefixes(denied)
	elements := func(e []string) string {
		if len(e) == 0 {
			return ""
		}
		return " elements = { " + strings.Join(e, ", ") + " }"
	}
	return fmt.Sprintf(`table inet %[1]s {
	set machine4 { type ipv4_addr; flags interval; auto-merge; elements = { %[2]s } }
	set machine6 { type ipv6_addr; flags interval; auto-merge; elements = { %[3]s } }
	set denied4 { type ipv4_addr; flags interval; auto-merge;%[6]s }
	set denied6 { type ipv6_addr; flags interval; auto-merge;%[7]s }
	chain output {
		type filter hook output priority filter; policy accept;
		oifname "lo" accept
		ip daddr %[4]s meta l4proto { tcp, udp } th dport 53 accept
		ip daddr %[5]s reject with icmpx type admin-prohibited
		ip daddr 169.254.0.0/16 reject with icmpx type admin-prohibited
		ip6 daddr { fe80::/10, fd00:ec2::254 } reject with icmpx type admin-prohibited
		ip daddr @machine4 reject with icmpx type admin-prohibited
		ip6 daddr @machine6 reject with icmpx type admin-prohibited
		ip daddr @denied4 reject with icmpx type admin-prohibited
		ip6 daddr @denied6 reject with icmpx type admin-prohibited
	}
}
`, nftTable, strings.Join(v4, ", "), strings.Join(v6, ", "), slirpDNS, slirpNetwork, elements(d4), elements(d6))
}

// runNft runs an nft script as root inside the network namespace of pid.
func runNft(ctx context.Context, nft string, pid int, script string) error {
	cmd := nsCommand(ctx, pid, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nsCommand runs a system tool as root in the network namespace of pid
// (and nothing else of the sandbox's).
func nsCommand(ctx context.Context, pid int, name string, args ...string) *exec.Cmd {
	return sysCommand(ctx, "nsenter", append([]string{"--target", strconv.Itoa(pid), "--net", "--", name}, args...)...)
}

// machinePrefixes are the destinations this machine takes as its own: the
// local, broadcast and anycast entries of its routing tables (its
// interface addresses, and whole ranges such as 127.0.0.0/8), plus the
// loopback and unspecified addresses. They are read once, when the sandbox
// is made.
func machinePrefixes() ([]netip.Prefix, error) {
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("::1/128"),
	}
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETROUTE, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("reading the routing tables: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("reading the routing tables: %w", err)
	}
	for _, m := range msgs {
		// struct rtmsg: family, dst_len, src_len, tos, table, protocol,
		// scope, type, flags.
		if m.Header.Type != syscall.RTM_NEWROUTE || len(m.Data) < syscall.SizeofRtMsg {
			continue
		}
		dstLen, kind := int(m.Data[1]), m.Data[7]
		if kind != unix.RTN_LOCAL && kind != unix.RTN_BROADCAST && kind != unix.RTN_ANYCAST {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("reading the routing tables: %w", err)
		}
		for _, a := range attrs {
			if a.Attr.Type != syscall.RTA_DST {
				continue
			}
			if addr, ok := netip.AddrFromSlice(a.Value); ok {
				prefixes = append(prefixes, netip.PrefixFrom(addr.Unmap(), dstLen).Masked())
			}
		}
	}
	return outermost(prefixes), nil
}

// outermost drops prefixes that others contain, and duplicates: nft
// refuses overlapping elements in one set declaration.
func outermost(prefixes []netip.Prefix) []netip.Prefix {
	slices.SortFunc(prefixes, func(a, b netip.Prefix) int {
		return cmp.Compare(a.Bits(), b.Bits())
	})
	var out []netip.Prefix
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		if !slices.ContainsFunc(out, func(o netip.Prefix) bool { return o.Contains(p.Addr()) }) {
			out = append(out, p)
		}
	}
	return out
}

// writeResolvConf writes the run's resolv.conf into the sandbox directory,
// where the init finds it: slirp4netns's DNS forwarder as the only
// nameserver (the machine's may be on its loopback, or one of its
// addresses, which the run cannot reach), and the machine's search
// domains and options.
func writeResolvConf(dir string) error {
	machine, err := os.ReadFile("/etc/resolv.conf")
	if errors.Is(err, fs.ErrNotExist) {
		return errNoResolvConf
	}
	if err != nil {
		return fmt.Errorf("reading the machine's resolv.conf: %w", err)
	}
	var conf bytes.Buffer
	conf.WriteString("# jetway: the run's DNS goes through slirp4netns to the machine's resolver\n")
	for line := range strings.Lines(string(machine)) {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "search" || f[0] == "domain" || f[0] == "options") {
			conf.WriteString(strings.TrimSpace(line) + "\n")
		}
	}
	conf.WriteString("nameserver " + slirpDNS + "\n")
	return os.WriteFile(filepath.Join(dir, resolvConf), conf.Bytes(), 0o644)
}

// errNoResolvConf: the machine has no /etc/resolv.conf to cover in the
// run's mount namespace (and resolves no names through DNS itself).
var errNoResolvConf = errors.New("the machine has no /etc/resolv.conf, so the run resolves names through /etc/hosts only")

// tailBuffer keeps the last 4 KiB written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 4096; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
