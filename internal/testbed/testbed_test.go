package testbed

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestUpDownLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 || CheckTools() != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("test bed unavailable: root=%v tools=%v", os.Geteuid() == 0, CheckTools())
		}
		t.Skip("needs root and the test bed's tools")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := Up(ctx, Config{Owner: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Up(ctx, Config{Owner: os.Getpid(), NoLocalDocker: true, NoRegistry: true})
	if err != nil {
		a.Down()
		t.Fatal(err)
	}
	if a.NetNS == b.NetNS || a.RemoteIP == b.RemoteIP || a.Dir == b.Dir {
		t.Errorf("two beds collide: %+v %+v", a, b)
	}
	// A container leaves mounts and shim processes behind a plain kill.
	c, err := LocalClient(a.RemoteSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, err := exec.CommandContext(ctx, "docker", "--host", "unix://"+a.RemoteSocket, "run", "-d", BaseImage, "sleep", "600").CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	for _, bed := range []*Bed{a, b} {
		if err := bed.Down(); err != nil {
			t.Errorf("Down: %v", err)
		}
		if err := bed.Down(); err != nil {
			t.Errorf("a second Down: %v", err)
		}
		if _, err := os.Stat(bed.Dir); !os.IsNotExist(err) {
			t.Errorf("%s is still there", bed.Dir)
		}
		if _, err := os.Stat("/var/run/netns/" + bed.NetNS); !os.IsNotExist(err) {
			t.Errorf("namespace %s is still there", bed.NetNS)
		}
		if out, _ := exec.Command("ip", "link", "show", bed.VethHost).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
			t.Errorf("veth %s is still there: %s", bed.VethHost, out)
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(mounts), bed.Dir) {
			t.Errorf("mounts under %s are left", bed.Dir)
		}
		for _, p := range bed.Procs {
			if alive(p.PID) {
				t.Errorf("%s (pid %d) still runs", p.Name, p.PID)
			}
		}
	}
}

func TestSweepRemovesBedsOfDeadOwners(t *testing.T) {
	if os.Geteuid() != 0 || CheckTools() != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("test bed unavailable")
		}
		t.Skip("needs root and the test bed's tools")
	}
	// A process that has exited stands for a test binary that was killed.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stale, err := Up(ctx, Config{Owner: dead.Process.Pid, NoLocalDocker: true, NoRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	Sweep(stale.log)
	if _, err := os.Stat(stale.Dir); !os.IsNotExist(err) {
		stale.Down()
		t.Fatal("the stale bed was not swept")
	}
}
