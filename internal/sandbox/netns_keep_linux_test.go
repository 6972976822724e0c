package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestMachinesNetworkNamespacesSurviveARun: starting a run's network
// (slirp4netns, which unmounts a whole root in its own sandbox) leaves the
// machine's named network namespaces (/run/netns, a shared mount) as they
// were. Before slirp4netns ran in a private mount namespace of its own,
// every `ip netns` namespace of the machine was unmounted when a run
// started.
func TestMachinesNetworkNamespacesSurviveARun(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("jwkeep-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	sb := create(t, testConfig(t), Limits{})
	if !sb.Isolated() {
		t.Fatal("the sandbox is not isolated")
	}
	if out, err := exec.Command("ip", "-n", name, "link", "show", "lo").CombinedOutput(); err != nil {
		t.Fatalf("the machine's namespace %s was unmounted by the run's network: %v %s", name, err, out)
	}
}
