package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// The network tests use only loopback, addresses on interfaces they make
// themselves (a veth pair into a namespace of their own) and the machine's
// resolver for one DNS test. Their addresses
// come from 10.213.0.0/16, apart from the jetway test bed's 10.231.0.0/16.

// probeScript connects to each HOST:PORT argument and prints one line per
// target: "HOST:PORT connected" or "HOST:PORT failed: reason". With -u it
// sends a UDP datagram instead (to broadcast addresses too) and prints
// "sent" or "failed".
const probeScript = `import socket, sys
udp = sys.argv[1] == "-u"
for target in sys.argv[2 if udp else 1:]:
    host, port = target.rsplit(":", 1)
    try:
        if udp:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.sendto(b"jetway-probe", (host, int(port)))
            print(target, "sent")
        else:
            socket.create_connection((host, int(port)), timeout=3).close()
            print(target, "connected")
    except OSError as e:
        print(target, "failed:", e)
`

// probe runs probeScript in the sandbox as the run user and returns what
// it said of each target.
func probe(t *testing.T, sb *Sandbox, udp bool, targets ...string) map[string]string {
	t.Helper()
	args := "'" + strings.Join(targets, "' '") + "'"
	if udp {
		args = "-u " + args
	}
	out, err := sh(t, sb, fmt.Sprintf("python3 -c '%s' %s", strings.ReplaceAll(probeScript, "'", `'\''`), args))
	if err != nil {
		t.Fatalf("probe: %v: %s", err, out)
	}
	got := map[string]string{}
	for line := range strings.Lines(out) {
		target, result, _ := strings.Cut(strings.TrimSpace(line), " ")
		got[target] = result
	}
	for _, target := range targets {
		if _, ok := got[target]; !ok {
			t.Fatalf("probe said nothing of %s: %s", target, out)
		}
	}
	return got
}

// server counts the connections (or datagrams) that reach it, by the local
// address they reached.
type server struct {
	port int
	mu   sync.Mutex
	hits map[string]int
}

func (s *server) hit(local net.Addr) {
	ip := ""
	switch a := local.(type) {
	case *net.TCPAddr:
		ip = a.IP.String()
	case *net.UDPAddr:
		ip = a.IP.String()
	}
	s.mu.Lock()
	s.hits[ip]++
	s.mu.Unlock()
}

func (s *server) count(ip string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[ip]
}

func (s *server) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.hits {
		n += c
	}
	return n
}

func (s *server) target(ip string) string {
	return net.JoinHostPort(ip, strconv.Itoa(s.port))
}

// serveTCP listens on addr (in the namespace the listener is made in) and
// counts connections.
func serveTCP(t *testing.T, l net.Listener) *server {
	t.Helper()
	t.Cleanup(func() { l.Close() })
	s := &server{port: l.Addr().(*net.TCPAddr).Port, hits: map[string]int{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.hit(c.LocalAddr())
			c.Close()
		}
	}()
	return s
}

func serveUDP(t *testing.T, addr string) *server {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &server{port: c.LocalAddr().(*net.UDPAddr).Port, hits: map[string]int{}}
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
			s.hit(c.LocalAddr())
		}
	}()
	return s
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// mustReach proves that a target is real: the test itself, from the
// machine, connects to it, and the server counts the connection.
func (s *server) mustReach(t *testing.T, ip string) {
	t.Helper()
	before := s.count(ip)
	c, err := net.DialTimeout("tcp", s.target(ip), 3*time.Second)
	if err != nil {
		t.Fatalf("the test cannot reach its own target %s from the machine: %v", s.target(ip), err)
	}
	c.Close()
	if !s.waitCount(ip, before+1) {
		t.Fatalf("the server of %s did not count the test's connection", s.target(ip))
	}
}

// waitCount waits until n connections to ip were counted; accepting runs
// apart from the connecting side.
func (s *server) waitCount(ip string, n int) bool {
	deadline := time.Now().Add(3 * time.Second)
	for s.count(ip) < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// netBed is what the network tests make on the machine: a namespace
// "outside" behind a veth pair, which stands for the world (a registry, a
// mirror) and also holds 169.254.169.254, routed to it from the machine, as
// a metadata service; and an extra address of the machine on its end of the
// veth (this kernel has no dummy interfaces). Deleting the namespace
// deletes the pair, its addresses and the route.
type netBed struct {
	netns       string
	vethHost    string // the machine's end of the veth pair
	n           int    // the bed's addresses are 10.213.n.0/24 and 10.213.n+1.0/24
	extraIP     string // another address of the machine
	hostVethIP  string // the machine's end of the veth
	outsideIP   string // allowed
	deniedIP    string // for DenyAddresses
	metadataIP  string
	outside     *server // listens on every address of the namespace
	machine     *server // listens on 0.0.0.0 of the machine
	machineLoop *server // listens on 127.0.0.1 of the machine
}

func newNetBed(t *testing.T) *netBed {
	t.Helper()
	id := os.Getpid() % 100000
	n := 2 * (id % 120)
	b := &netBed{
		netns:      fmt.Sprintf("jwsb-%d", id),
		vethHost:   fmt.Sprintf("jwsb%da", id),
		n:          n,
		extraIP:    fmt.Sprintf("10.213.%d.1", n),
		hostVethIP: fmt.Sprintf("10.213.%d.1", n+1),
		outsideIP:  fmt.Sprintf("10.213.%d.2", n+1),
		deniedIP:   fmt.Sprintf("10.213.%d.3", n+1),
		metadataIP: "169.254.169.254",
	}
	vethHost, vethOut := b.vethHost, fmt.Sprintf("jwsb%db", id)
	cleanup := func() {
		_ = exec.Command("ip", "netns", "del", b.netns).Run()
		_ = exec.Command("ip", "link", "del", vethHost).Run()
	}
	cleanup() // what a killed earlier run of this pid left
	t.Cleanup(cleanup)
	for _, c := range [][]string{
		{"netns", "add", b.netns},
		{"link", "add", vethHost, "type", "veth", "peer", "name", vethOut, "netns", b.netns},
		{"addr", "add", b.hostVethIP + "/24", "dev", vethHost},
		{"addr", "add", b.extraIP + "/32", "dev", vethHost},
		{"link", "set", vethHost, "up"},
		{"-n", b.netns, "addr", "add", b.outsideIP + "/24", "dev", vethOut},
		{"-n", b.netns, "addr", "add", b.deniedIP + "/24", "dev", vethOut},
		{"-n", b.netns, "addr", "add", b.metadataIP + "/32", "dev", vethOut},
		{"-n", b.netns, "link", "set", "lo", "up"},
		{"-n", b.netns, "link", "set", vethOut, "up"},
		{"-n", b.netns, "route", "add", "default", "via", b.hostVethIP},
		{"route", "add", b.metadataIP + "/32", "via", b.outsideIP},
	} {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	b.outside = serveTCP(t, listenIn(t, b.netns, "0.0.0.0:0"))
	b.machine = serveTCP(t, listen(t, "0.0.0.0:0"))
	b.machineLoop = serveTCP(t, listen(t, "127.0.0.1:0"))
	for _, ip := range []string{b.outsideIP, b.deniedIP, b.metadataIP} {
		b.outside.mustReach(t, ip)
	}
	for _, ip := range []string{b.extraIP, b.hostVethIP} {
		b.machine.mustReach(t, ip)
	}
	b.machineLoop.mustReach(t, "127.0.0.1")
	return b
}

// listenIn opens a TCP listener inside the named network namespace. The
// socket stays in that namespace; the thread goes back to the test's.
func listenIn(t *testing.T, netns, addr string) net.Listener {
	t.Helper()
	l, err := testbed.ListenIn(netns, addr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// machineIPv4s are the machine's own IPv4 addresses other than loopback.
func machineIPv4s(t *testing.T) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ips = append(ips, n.IP.String())
		}
	}
	return ips
}

// settle is how long a connection that got through may take to be
// counted, before a test concludes that none did.
const settle = 300 * time.Millisecond

// wantBlocked checks that the run could not reach any target and that no
// connection arrived at the servers.
func wantBlocked(t *testing.T, got map[string]string, servers ...*server) {
	t.Helper()
	time.Sleep(settle)
	for target, result := range got {
		if !strings.HasPrefix(result, "failed") {
			t.Errorf("the run reached %s: %s", target, result)
		}
	}
	for _, s := range servers {
		if n := s.total(); n != 0 {
			t.Errorf("%d connections from the run arrived on port %d: %v", n, s.port, s.hits)
		}
	}
}

// resetHits forgets the test's own connections (mustReach).
func resetHits(servers ...*server) {
	for _, s := range servers {
		s.mu.Lock()
		clear(s.hits)
		s.mu.Unlock()
	}
}

func TestTheRunReachesTheOutside(t *testing.T) {
	needRoot(t)
	b := newNetBed(t)
	sb := create(t, testConfig(t), Limits{})
	resetHits(b.outside)
	got := probe(t, sb, false, b.outside.target(b.outsideIP))
	if r := got[b.outside.target(b.outsideIP)]; r != "connected" {
		t.Fatalf("the run could not reach %s outside: %s", b.outsideIP, r)
	}
	if !b.outside.waitCount(b.outsideIP, 1) {
		t.Fatalf("the outside listener saw %v", b.outside.hits)
	}
}

// The attack: a phase connects to services of the machine itself, on its
// loopback, on slirp4netns's gateway (which maps to the machine's
// loopback), and on every address of the machine (where the server
// listens on 0.0.0.0).
func TestTheRunCannotReachTheMachine(t *testing.T) {
	needRoot(t)
	b := newNetBed(t)
	sb := create(t, testConfig(t), Limits{})
	targets := []string{
		b.machineLoop.target("127.0.0.1"),
		b.machineLoop.target("10.0.2.2"),
		b.machine.target("10.0.2.2"),
		b.machine.target(b.extraIP),
		b.machine.target(b.hostVethIP),
	}
	for _, ip := range machineIPv4s(t) {
		b.machine.mustReach(t, ip)
		targets = append(targets, b.machine.target(ip))
	}
	resetHits(b.machine, b.machineLoop)
	wantBlocked(t, probe(t, sb, false, targets...), b.machine, b.machineLoop)

	// slirp4netns translates more of its own network than the gateway: its
	// broadcast address and its DNS address on other ports may lead to
	// the machine's loopback.
	udp := serveUDP(t, "127.0.0.1:0")
	got := probe(t, sb, true, udp.target("10.0.2.2"), udp.target("10.0.2.3"), udp.target("10.0.2.255"))
	time.Sleep(settle)
	if n := udp.total(); n != 0 {
		t.Fatalf("%d datagrams from the run reached the machine's loopback: %v", n, got)
	}
	resetHits(b.machineLoop)
	got = probe(t, sb, false, b.machineLoop.target("10.0.2.3"), b.machineLoop.target("10.0.2.255"))
	wantBlocked(t, got, b.machineLoop)
}

// The machine gains an address, and a local range (AnyIP), while the run
// lives: they are the machine's too, and the run must not reach them.
func TestAddressesTheMachineGainsAreRefused(t *testing.T) {
	needRoot(t)
	b := newNetBed(t)
	sb := create(t, testConfig(t), Limits{})
	late := fmt.Sprintf("10.213.%d.4", b.n+1)
	anyRange, anyIP := fmt.Sprintf("10.213.%d.128/25", b.n), fmt.Sprintf("10.213.%d.200", b.n)
	t.Cleanup(func() { _ = exec.Command("ip", "route", "del", "local", anyRange, "dev", "lo", "table", "local").Run() })
	for _, c := range [][]string{
		{"addr", "add", late + "/32", "dev", b.vethHost},
		{"route", "add", "local", anyRange, "dev", "lo", "table", "local"},
	} {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	b.machine.mustReach(t, late)
	b.machine.mustReach(t, anyIP)
	// The firewall follows within milliseconds; the test waits for it
	// rather than race it.
	for _, ip := range []string{late, anyIP} {
		deadline := time.Now().Add(3 * time.Second)
		for nsCommand(context.Background(), sb.init.Process.Pid, "nft", "get", "element", "inet", nftTable, "machine4", "{ "+ip+" }").Run() != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s, new on the machine, is not in the run's firewall after 3s", ip)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	resetHits(b.machine)
	wantBlocked(t, probe(t, sb, false, b.machine.target(late), b.machine.target(anyIP)), b.machine)
}

// 169.254.169.254 is a real, reachable service here (the test routes it
// into its namespace); the run still cannot reach it.
func TestTheRunCannotReachMetadata(t *testing.T) {
	needRoot(t)
	b := newNetBed(t)
	sb := create(t, testConfig(t), Limits{})
	resetHits(b.outside)
	wantBlocked(t, probe(t, sb, false, b.outside.target(b.metadataIP)), b.outside)
}

func TestDenyAddresses(t *testing.T) {
	needRoot(t)
	b := newNetBed(t)
	sb := create(t, testConfig(t), Limits{})
	denied, allowed := b.outside.target(b.deniedIP), b.outside.target(b.outsideIP)
	if got := probe(t, sb, false, denied); got[denied] != "connected" {
		t.Fatalf("before DenyAddresses the run could not reach %s: %s", denied, got[denied])
	}
	ctx := context.Background()
	deny := []netip.Prefix{netip.MustParsePrefix(b.deniedIP + "/32"), netip.MustParsePrefix("fd00:dead::/64")}
	if err := sb.DenyAddresses(ctx, deny); err != nil {
		t.Fatal(err)
	}
	// Again, overlapping, and IPv4 written as IPv6: all fine.
	again := []netip.Prefix{netip.MustParsePrefix(b.deniedIP + "/32"), netip.MustParsePrefix("::ffff:" + b.deniedIP + "/128")}
	if err := sb.DenyAddresses(ctx, again); err != nil {
		t.Fatal(err)
	}
	resetHits(b.outside)
	got := probe(t, sb, false, denied, allowed)
	time.Sleep(settle)
	if !strings.HasPrefix(got[denied], "failed") || b.outside.count(b.deniedIP) != 0 {
		t.Errorf("the run reached the denied %s: %s", denied, got[denied])
	}
	if got[allowed] != "connected" {
		t.Errorf("denying %s also cut %s: %s", b.deniedIP, allowed, got[allowed])
	}
	if err := sb.DenyAddresses(ctx, []netip.Prefix{{}}); err == nil {
		t.Error("an invalid prefix was accepted")
	}
	if err := (&Sandbox{}).DenyAddresses(ctx, deny); err != nil {
		t.Errorf("on a sandbox that is not isolated: %v", err)
	}
}

// Addresses given to Create are refused from the run's first packet, and
// giving them to DenyAddresses again changes nothing.
func TestCreateWithDenied(t *testing.T) {
	needRoot(t)
	b := newNetBed(t)
	ctx := context.Background()
	deny := []netip.Prefix{netip.MustParsePrefix(b.deniedIP + "/32"), netip.MustParsePrefix("fd00:dead::/64")}
	sb, err := Create(ctx, testConfig(t), "t", Limits{}, WithDenied(deny))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Remove(context.Background()) })
	if err := sb.DenyAddresses(ctx, deny[:1]); err != nil {
		t.Fatal(err)
	}
	denied, allowed := b.outside.target(b.deniedIP), b.outside.target(b.outsideIP)
	resetHits(b.outside)
	got := probe(t, sb, false, denied, allowed)
	time.Sleep(settle)
	if !strings.HasPrefix(got[denied], "failed") || b.outside.count(b.deniedIP) != 0 {
		t.Errorf("the run reached the denied %s: %s", denied, got[denied])
	}
	if got[allowed] != "connected" {
		t.Errorf("denying %s also cut %s: %s", b.deniedIP, allowed, got[allowed])
	}
	if _, err := Create(ctx, testConfig(t), "t", Limits{}, WithDenied([]netip.Prefix{{}})); err == nil {
		t.Error("an invalid prefix was accepted")
	}
}

// The attack: the run user tries to lift the rules, or to route around
// them, directly and from a user namespace of its own.
func TestTheRunUserCannotChangeTheNetwork(t *testing.T) {
	needRoot(t)
	b := newNetBed(t)
	sb := create(t, testConfig(t), Limits{})
	rules, err := nsCommand(context.Background(), sb.init.Process.Pid, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, rules)
	}
	for _, attack := range []string{
		"nft flush ruleset",
		"nft delete table inet jetway",
		"unshare --user --map-root-user nft flush ruleset",
		"ip link set tap0 down",
		"ip addr add " + b.extraIP + "/32 dev lo",
		"ip route add " + b.extraIP + "/32 via 10.0.2.3",
		"unshare --user --map-root-user ip link set tap0 down",
	} {
		if out, err := sh(t, sb, attack); err == nil {
			t.Errorf("%q succeeded: %s", attack, out)
		}
	}
	after, err := nsCommand(context.Background(), sb.init.Process.Pid, "nft", "list", "ruleset").CombinedOutput()
	if err != nil || string(after) != string(rules) {
		t.Errorf("the rules changed: %v\nbefore:\n%s\nafter:\n%s", err, rules, after)
	}
	resetHits(b.machine, b.outside)
	got := probe(t, sb, false, b.machine.target(b.extraIP), b.outside.target(b.outsideIP))
	time.Sleep(settle)
	if !strings.HasPrefix(got[b.machine.target(b.extraIP)], "failed") || b.machine.total() != 0 {
		t.Errorf("after the attacks the run reached the machine: %v", got)
	}
	if got[b.outside.target(b.outsideIP)] != "connected" {
		t.Errorf("after the attacks the run lost the outside: %v", got)
	}
}

// dnsQueryScript sends one query for the root's NS records to the server
// named in argv[1] and prints "rcode N" when an answer to it comes back.
const dnsQueryScript = `import os, socket, struct, sys
qid = os.getpid() & 0xffff
query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for _ in range(3):
    s.sendto(query, (sys.argv[1], 53))
    try:
        reply = s.recv(4096)
    except socket.timeout:
        continue
    if struct.unpack(">H", reply[:2])[0] == qid:
        print("rcode", reply[3] & 0xf)
        sys.exit(0)
print("no answer")
sys.exit(1)
`

// DNS goes through slirp4netns's forwarder at 10.0.2.3 to the machine's
// resolver; the run's /etc/resolv.conf names only that. Where the machine
// resolves names of its package sources, so does the run.
func TestTheRunResolvesNames(t *testing.T) {
	needRoot(t)
	sb := create(t, testConfig(t), Limits{})
	out, err := sh(t, sb, "cat /etc/resolv.conf")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var servers []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
		}
	}
	if !slices.Equal(servers, []string{slirpDNS}) {
		t.Fatalf("the run's resolv.conf names %v, want only %s:\n%s", servers, slirpDNS, out)
	}
	if out, err := sh(t, sb, "echo 'nameserver 127.0.0.1' > /etc/resolv.conf"); err == nil {
		t.Fatalf("the run rewrote its resolv.conf: %s", out)
	}

	machineServer := ""
	if conf, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for line := range strings.Lines(string(conf)) {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" && net.ParseIP(f[1]).To4() != nil {
				machineServer = f[1]
				break
			}
		}
	}
	if machineServer == "" {
		t.Fatal("the machine's /etc/resolv.conf names no IPv4 resolver; the DNS test has nothing to compare with")
	}
	host, err := exec.Command("python3", "-c", dnsQueryScript, machineServer).CombinedOutput()
	run, runErr := sh(t, sb, fmt.Sprintf("python3 -c '%s' %s", dnsQueryScript, slirpDNS))
	t.Logf("the machine's resolver %s: %s; the run's %s: %s", machineServer, strings.TrimSpace(string(host)), slirpDNS, strings.TrimSpace(run))
	if err == nil && (runErr != nil || run != string(host)) {
		t.Fatalf("the machine's resolver answered %q, the run's %q (%v)", host, run, runErr)
	}
	if err != nil {
		t.Logf("the machine's resolver does not answer here (%v): only the run's resolv.conf is checked", err)
	}

	name := resolvableSourceHost(t)
	if name == "" {
		t.Log("no package source host resolves through DNS on this machine: name resolution in the run is not compared")
		return
	}
	out, err = sh(t, sb, "getent ahostsv4 "+name)
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("the machine resolves %s, the run does not: %v: %s", name, err, out)
	}
	t.Logf("the run resolved %s, a package source of the machine", name)
}

// resolvableSourceHost is the host of one of apt's package sources that
// this machine resolves through DNS (not /etc/hosts), or "".
func resolvableSourceHost(t *testing.T) string {
	t.Helper()
	hosts, _ := os.ReadFile("/etc/hosts")
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	files = append(append(files, "/etc/apt/sources.list"), more...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(data)) {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, field := range strings.Fields(line) {
				rest, ok := strings.CutPrefix(field, "http://")
				if !ok {
					rest, ok = strings.CutPrefix(field, "https://")
				}
				if !ok {
					continue
				}
				host, _, _ := strings.Cut(rest, "/")
				if host == "" || net.ParseIP(host) != nil || slices.Contains(strings.Fields(string(hosts)), host) {
					continue
				}
				if _, err := exec.Command("getent", "ahostsv4", host).Output(); err == nil {
					return host
				}
			}
		}
	}
	return ""
}

// netnsHolders lists the processes that are in, or hold a descriptor of,
// the network namespace ns ("net:[inode]").
func netnsHolders(ns string) []string {
	var holders []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		if l, _ := os.Readlink(filepath.Join("/proc", p.Name(), "ns", "net")); l == ns {
			holders = append(holders, p.Name())
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); l == ns {
				holders = append(holders, p.Name()+" (fd)")
				break
			}
		}
	}
	return holders
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func waitDead(pids []int, within time.Duration) []int {
	deadline := time.Now().Add(within)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slirp4netns confines itself in a mount namespace and unmounts the
// machine's root there; run in the machine's own mount namespace, that
// unmount reached the machine's shared mounts (`ip netns`'s /run/netns/*
// among them) and unmounted them.
func TestCreateLeavesTheMachinesMountsAlone(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp("/var/lib", "jetway-shared-mount-test-")
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	t.Cleanup(func() {
		_ = unix.Unmount(sub, unix.MNT_DETACH)
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		os.RemoveAll(dir)
	})
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	b := newNetBed(t) // ip netns's own shared mounts
	create(t, testConfig(t), Limits{})
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{sub, filepath.Join("/run/netns", b.netns)} {
		if !slices.ContainsFunc(strings.Split(string(mounts), "\n"), func(line string) bool {
			f := strings.Fields(line)
			return len(f) > 4 && f[4] == m
		}) {
			t.Errorf("%s was unmounted on the machine while the sandbox was made", m)
		}
	}
}

func TestRemoveLeavesNoNetwork(t *testing.T) {
	needRoot(t)
	sb := create(t, testConfig(t), Limits{})
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", sb.init.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if self, _ := os.Readlink("/proc/self/ns/net"); self == ns {
		t.Fatal("the sandbox shares the machine's network namespace")
	}
	slirp := sb.net.cmd.Process.Pid
	if !alive(slirp) {
		t.Fatal("slirp4netns is not running")
	}
	if err := sb.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(slirp) {
		t.Fatalf("slirp4netns (pid %d) outlived the sandbox", slirp)
	}
	if h := netnsHolders(ns); len(h) > 0 {
		t.Fatalf("the run's network namespace %s is still held by %v", ns, h)
	}
}

// crashEnv makes the test binary a runner that creates a sandbox in the
// work dir it names, prints its init's and slirp4netns's pids, and waits to
// be killed.
const crashEnv = "JETWAY_SANDBOX_TEST_CRASH_WORKDIR"

func runCrashingRunnerIfAsked() {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		return
	}
	sb, err := Create(context.Background(), Config{WorkDir: dir}, "crash", Limits{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(sb.init.Process.Pid, sb.net.cmd.Process.Pid)
	select {}
}

// A runner killed with SIGKILL cleans up nothing itself: its slirp4netns
// must die with it (and the network namespace with that), and Sweep must
// remove the rest.
func TestACrashedRunnerLeavesNoNetwork(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	runner := exec.Command(os.Args[0], "-test.run=^$")
	runner.Env = append(os.Environ(), crashEnv+"="+cfg.WorkDir)
	out, err := runner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	runner.Stderr = os.Stderr
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = runner.Process.Kill(); _ = runner.Wait() }()
	line, _ := bufio.NewReader(out).ReadString('\n')
	var initPid, slirpPid int
	if _, err := fmt.Sscan(line, &initPid, &slirpPid); err != nil {
		t.Fatalf("the runner said %q", line)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", initPid))
	if err != nil {
		t.Fatal(err)
	}
	if !alive(slirpPid) {
		t.Fatal("slirp4netns is not running")
	}
	if err := runner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = runner.Wait()
	if left := waitDead([]int{initPid, slirpPid}, 5*time.Second); len(left) > 0 {
		t.Fatalf("processes outlived the killed runner: %v (init %d, slirp4netns %d)", left, initPid, slirpPid)
	}
	if h := netnsHolders(ns); len(h) > 0 {
		t.Fatalf("the run's network namespace %s is still held by %v", ns, h)
	}
	if err := Sweep(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(cfg.WorkDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "run-") {
			t.Fatalf("sweep left %s", e.Name())
		}
	}
}

func TestMissingSlirp4netnsFailsClosed(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.Slirp4netns = "/nonexistent/slirp4netns"
	sb, err := Create(context.Background(), cfg, "t", Limits{})
	if err == nil {
		_ = sb.Remove(context.Background())
		t.Fatal("a sandbox was made without slirp4netns")
	}
	if !strings.Contains(err.Error(), "apt-get install slirp4netns") {
		t.Fatalf("the error does not say what to install: %v", err)
	}
	entries, _ := os.ReadDir(cfg.WorkDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "run-") {
			t.Fatalf("the failed Create left %s", e.Name())
		}
	}
}

func TestDenyPrefixesAreNormalised(t *testing.T) {
	for _, tc := range []struct {
		in      string
		v4, v6  []string
		invalid bool
	}{
		{in: "192.0.2.7/32", v4: []string{"192.0.2.7/32"}},
		{in: "192.0.2.7/24", v4: []string{"192.0.2.0/24"}},
		{in: "::ffff:192.0.2.7/128", v4: []string{"192.0.2.7/32"}},
		{in: "::ffff:192.0.2.0/120", v4: []string{"192.0.2.0/24"}},
		{in: "fd00:ec2::254/128", v6: []string{"fd00:ec2::254/128"}},
		{in: "", invalid: true},
	} {
		var in []netip.Prefix
		if tc.in != "" {
			in = []netip.Prefix{netip.MustParsePrefix(tc.in)}
		} else {
			in = []netip.Prefix{{}}
		}
		v4, v6, err := splitPrefixes(in)
		if (err != nil) != tc.invalid {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !slices.Equal(v4, tc.v4) || !slices.Equal(v6, tc.v6) {
			t.Errorf("%q: got %v %v, want %v %v", tc.in, v4, v6, tc.v4, tc.v6)
		}
	}
}
