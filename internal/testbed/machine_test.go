package testbed

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A machine reaches this machine's end of its veth and the bed's remote
// host, and nothing else of this machine; a link set down cuts it off
// until it is up again; Close (and a sweep, once its owner died) leaves
// nothing of it.
func TestMachineReachesOnlyItsWire(t *testing.T) {
	if os.Geteuid() != 0 || CheckTools() != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("test bed unavailable: root=%v tools=%v", os.Geteuid() == 0, CheckTools())
		}
		t.Skip("needs root and the test bed's tools")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Up(ctx, Config{Owner: os.Getpid(), NoLocalDocker: true, NoRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Down()
	m, err := b.NewMachine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	listen := func(ip string) string {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l.Addr().String()
	}
	wire := listen(m.HostIP)
	outside := listen(b.HostIP) // this machine, but not on the machine's wire
	loopback := listen("127.0.0.1")
	remote := net.JoinHostPort(b.RemoteIP, "22")
	connects := func(addr string) bool {
		host, port, _ := net.SplitHostPort(addr)
		cmd := m.Command(ctx, "timeout", "1", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port))
		return cmd.Run() == nil
	}
	check := func(when string, want map[string]bool) {
		t.Helper()
		for addr, ok := range want {
			if got := connects(addr); got != ok {
				t.Errorf("%s: from the machine, connecting to %s: %v, want %v", when, addr, got, ok)
			}
		}
	}
	check("up", map[string]bool{wire: true, remote: true, outside: false, loopback: false})
	if err := m.SetLink(ctx, false); err != nil {
		t.Fatal(err)
	}
	check("link down", map[string]bool{wire: false, remote: false})
	if err := m.SetLink(ctx, true); err != nil {
		t.Fatal(err)
	}
	check("link up again", map[string]bool{wire: true, remote: true})

	// A process in the machine dies with it.
	sleeper := m.Command(context.Background(), "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := make(chan struct{})
	go func() { _ = sleeper.Wait(); close(reaped) }()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	select {
	case <-reaped:
	case <-time.After(10 * time.Second):
		t.Errorf("a process in the machine outlived Close")
	}
	assertMachineGone(t, b, m, true)

	// A machine whose owner died goes with the next sweep.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	orphaned := *b
	orphaned.Owner = dead.Process.Pid
	m2, err := orphaned.NewMachine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	Sweep(slog.New(slog.DiscardHandler))
	// (Its route in the bed's namespace goes with the bed, whose owner is
	// the machine's outside this test.)
	assertMachineGone(t, b, m2, false)
	if _, err := os.Stat("/var/run/netns/" + b.NetNS); err != nil {
		t.Errorf("the sweep removed the live bed's namespace: %v", err)
	}
}

func assertMachineGone(t *testing.T, b *Bed, m *Machine, route bool) {
	t.Helper()
	if _, err := os.Stat("/var/run/netns/" + m.NetNS); !os.IsNotExist(err) {
		t.Errorf("namespace %s is still there", m.NetNS)
	}
	if out, _ := exec.Command("ip", "link", "show", m.VethHost).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("veth %s is still there: %s", m.VethHost, out)
	}
	if out, _ := exec.Command("ip", "-n", b.NetNS, "route", "show", m.IP).CombinedOutput(); route && strings.TrimSpace(string(out)) != "" {
		t.Errorf("the bed's namespace still routes to the machine: %s", out)
	}
	for _, p := range []string{m.rec.Dir, registryDir + "/" + m.rec.ID, subnetLock(m.rec.Subnet)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there", p)
		}
	}
}
