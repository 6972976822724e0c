package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Machine is one more host on a bed's network, for a process that must
// reach this machine and the bed's remote host over a wire of its own
// only: a network namespace joined to this machine by a veth pair on a
// /30 of its own (claimed like a bed's), with a route to the bed's remote
// host through this machine and the route back. It has no other route: it
// cannot reach this machine's loopback, unix sockets on this machine's
// network or the bed's local dockerd on tcp.
//
//	m, err := b.NewMachine(ctx)
//	defer m.Close()
//	cmd := m.Command(ctx, "jetway", "agent", "--server", "http://"+m.HostIP+":7070")
//	// a silent partition, no RST to either side:
//	err = m.SetLink(ctx, false)
//
// A machine is listed in the beds' registry under its own id with the bed's
// owner, so a sweep (the next Up, or `jetway-testbed down --all`) removes
// it if its test died before Close.
type Machine struct {
	NetNS    string // ip netns name; processes join it with nsenter (Command)
	IP       string // the machine's address, inside NetNS
	HostIP   string // this machine's end of the veth: listen here to be reached from the machine
	Dev      string // the veth's end inside NetNS
	VethHost string // the veth's end on this machine

	bed       *Bed
	rec       *Bed // the registry entry; its Down removes namespace, veth, subnet and directory
	forwardOn bool // this machine enabled IP forwarding, and Close disables it (when the last is closed)
	accepts   [][]string
	closeOnce sync.Once
	closeErr  error
}

// NewMachine creates a machine routed to b's remote host. On failure it
// removes what it had made.
func (b *Bed) NewMachine(ctx context.Context) (m *Machine, err error) {
	if b.NetNS == "" || b.RemoteIP == "" || b.HostIP == "" {
		return nil, errors.New("test bed: a machine needs a bed with its network up")
	}
	id := randomID()
	rec := &Bed{ID: id, Dir: filepath.Join(os.TempDir(), "jwtb-"+id), Owner: b.Owner, log: b.log,
		NetNS: "jw-" + id, VethHost: "jw" + id + "a"}
	m = &Machine{NetNS: rec.NetNS, VethHost: rec.VethHost, Dev: "jw" + id + "b", bed: b, rec: rec}
	if err := os.Mkdir(rec.Dir, 0o755); err != nil {
		return nil, err
	}
	// Registered before anything exists, so a crash at any step below
	// leaves a record a sweep can act on.
	if err := rec.save(); err != nil {
		os.RemoveAll(rec.Dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("test bed machine: %w", err), m.Close())
			m = nil
		}
	}()
	idx, err := claimSubnet(id)
	if err != nil {
		return m, err
	}
	rec.Subnet = idx
	if err := rec.save(); err != nil {
		return m, err
	}
	m.HostIP = fmt.Sprintf("%s.%d.%d", subnetBase, idx*4/256, idx*4%256+1)
	m.IP = fmt.Sprintf("%s.%d.%d", subnetBase, idx*4/256, idx*4%256+2)
	cmds := [][]string{
		{"ip", "netns", "add", m.NetNS},
		{"ip", "link", "add", m.VethHost, "type", "veth", "peer", "name", m.Dev},
		{"ip", "link", "set", m.Dev, "netns", m.NetNS},
		{"ip", "addr", "add", m.HostIP + "/30", "dev", m.VethHost},
		{"ip", "link", "set", m.VethHost, "up"},
		{"ip", "-n", m.NetNS, "addr", "add", m.IP + "/30", "dev", m.Dev},
		{"ip", "-n", m.NetNS, "link", "set", m.Dev, "up"},
		{"ip", "-n", m.NetNS, "link", "set", "lo", "up"},
		// There and back, through this machine: the remote host only.
		{"ip", "-n", m.NetNS, "route", "add", b.RemoteIP + "/32", "via", m.HostIP},
		// replace: a swept machine of a live bed may have left its route.
		{"ip", "-n", b.NetNS, "route", "replace", m.IP + "/32", "via", b.HostIP},
	}
	for _, c := range cmds {
		if err := run(ctx, c...); err != nil {
			return m, err
		}
	}
	if m.forwardOn, err = enableForwarding(); err != nil {
		return m, err
	}
	return m, m.acceptForwarded(ctx)
}

// Command runs name in the machine's network namespace (and nowhere else:
// mounts, PIDs and /sys stay this machine's, which dockerd and jetway's
// sandboxes need; ip netns exec would remount /sys). nsenter execs name,
// so the process's pid is name's.
func (m *Machine) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	nsenter, err := lookPath("nsenter")
	if err != nil {
		nsenter = "nsenter"
	}
	return exec.CommandContext(ctx, nsenter, append([]string{"--net=/var/run/netns/" + m.NetNS, name}, args...)...)
}

// SetLink sets the machine's end of the veth up or down. Down is a silent
// partition: packets vanish, no RST reaches either side, and connections
// resume when it is up again.
func (m *Machine) SetLink(ctx context.Context, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if err := run(ctx, "ip", "-n", m.NetNS, "link", "set", m.Dev, state); err != nil {
		return err
	}
	if !up {
		return nil
	}
	// Setting a link down drops the routes through it; the one to the
	// remote host comes back once the link has its carrier.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := run(ctx, "ip", "-n", m.NetNS, "route", "replace", m.bed.RemoteIP+"/32", "via", m.HostIP)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close kills what still runs in the machine and removes it: the route in
// the bed's namespace, forwarding rules, namespace, veth, subnet claim and
// registry entry. It is safe to call more than once.
func (m *Machine) Close() error {
	m.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		if m.IP != "" {
			if _, err := os.Stat("/var/run/netns/" + m.bed.NetNS); err == nil {
				if err := run(ctx, "ip", "-n", m.bed.NetNS, "route", "del", m.IP+"/32"); err != nil && !strings.Contains(err.Error(), "No such process") {
					errs = append(errs, err)
				}
			}
		}
		for _, rule := range m.accepts {
			if err := run(ctx, append([]string{"iptables", "-D"}, rule...)...); err != nil {
				errs = append(errs, err)
			}
		}
		if m.forwardOn {
			errs = append(errs, disableForwarding())
		}
		// Processes in the namespace, the namespace, the veth, the
		// directory, the subnet and the registry entry.
		errs = append(errs, m.rec.Down())
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// acceptForwarded lets the machine's packets through this machine's
// FORWARD chain when its policy drops them (a dockerd with iptables sets
// DROP); Close removes the rules.
func (m *Machine) acceptForwarded(ctx context.Context) error {
	if _, err := lookPath("iptables"); err != nil {
		return nil // no iptables: nothing filters with it
	}
	out, err := output(ctx, "iptables", "-S", "FORWARD")
	if err != nil {
		return err
	}
	if strings.Contains(string(out), "-P FORWARD ACCEPT") {
		return nil
	}
	for _, rule := range [][]string{{"FORWARD", "-i", m.VethHost, "-j", "ACCEPT"}, {"FORWARD", "-o", m.VethHost, "-j", "ACCEPT"}} {
		if err := run(ctx, append([]string{"iptables", "-I"}, rule...)...); err != nil {
			return err
		}
		m.accepts = append(m.accepts, rule)
	}
	return nil
}

const forwardingSysctl = "/proc/sys/net/ipv4/ip_forward"

// forwarding counts the machines that need IP forwarding which this
// process enabled.
var forwarding struct {
	sync.Mutex
	users int
}

// enableForwarding turns IPv4 forwarding on if it is off; true when it
// did, and disableForwarding must follow.
func enableForwarding() (bool, error) {
	forwarding.Lock()
	defer forwarding.Unlock()
	if forwarding.users > 0 {
		forwarding.users++
		return true, nil
	}
	data, err := os.ReadFile(forwardingSysctl)
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(data)) == "1" {
		return false, nil
	}
	if err := os.WriteFile(forwardingSysctl, []byte("1\n"), 0o644); err != nil {
		return false, fmt.Errorf("enabling IP forwarding: %w", err)
	}
	forwarding.users = 1
	return true, nil
}

// disableForwarding turns forwarding off again when the last machine that
// needed it is closed.
func disableForwarding() error {
	forwarding.Lock()
	defer forwarding.Unlock()
	if forwarding.users--; forwarding.users > 0 {
		return nil
	}
	return os.WriteFile(forwardingSysctl, []byte("0\n"), 0o644)
}
