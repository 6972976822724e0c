package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// subnetBase is the /16 the beds' /30 veth subnets come from. Every address
// in it that a bed uses lives on a veth pair the bed created.
const subnetBase = "10.231"

// setupNetwork creates the namespace and a veth pair on a /30 that no other
// live bed holds (claimed with an O_EXCL lock file).
func (b *Bed) setupNetwork(ctx context.Context) error {
	b.NetNS = "jw-" + b.ID
	b.VethHost = "jw" + b.ID + "a"
	vethNS := "jw" + b.ID + "b"
	idx, err := claimSubnet(b.ID)
	if err != nil {
		return err
	}
	b.Subnet = idx
	b.HostIP = fmt.Sprintf("%s.%d.%d", subnetBase, idx*4/256, idx*4%256+1)
	b.RemoteIP = fmt.Sprintf("%s.%d.%d", subnetBase, idx*4/256, idx*4%256+2)
	cmds := [][]string{
		{"ip", "netns", "add", b.NetNS},
		{"ip", "link", "add", b.VethHost, "type", "veth", "peer", "name", vethNS},
		{"ip", "link", "set", vethNS, "netns", b.NetNS},
		{"ip", "addr", "add", b.HostIP + "/30", "dev", b.VethHost},
		{"ip", "link", "set", b.VethHost, "up"},
		{"ip", "-n", b.NetNS, "addr", "add", b.RemoteIP + "/30", "dev", vethNS},
		{"ip", "-n", b.NetNS, "link", "set", vethNS, "up"},
		{"ip", "-n", b.NetNS, "link", "set", "lo", "up"},
	}
	for _, c := range cmds {
		if err := run(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

func claimSubnet(owner string) (int, error) {
	if err := os.MkdirAll(filepath.Join(registryDir, "subnets"), 0o755); err != nil {
		return 0, err
	}
	for range 200 {
		idx := 1 + mathrand.IntN(16383) // 0 means "none claimed" in Bed.Subnet
		f, err := os.OpenFile(subnetLock(idx), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		_, err = f.WriteString(owner)
		f.Close()
		return idx, err
	}
	return 0, errors.New("no free test subnet: too many beds; run `jetway-testbed down --all`")
}

func subnetLock(idx int) string {
	return filepath.Join(registryDir, "subnets", fmt.Sprintf("%d.lock", idx))
}

// run executes a command and folds its output into the error.
func run(ctx context.Context, args ...string) error {
	_, err := output(ctx, args...)
	return err
}

func output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// CheckTools reports the programs a bed needs that this machine lacks.
func CheckTools() error {
	var missing []string
	for tool, pkg := range map[string]string{
		"ip": "iproute2", "nsenter": "util-linux", "dockerd": "docker.io", "containerd": "docker.io",
		"sshd": "openssh-server", "docker-registry": "docker-registry", "busybox": "busybox-static", "docker": "docker.io",
	} {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", tool, pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the test bed needs: %s", strings.Join(missing, ", "))
	}
	return nil
}

func lookPath(tool string) (string, error) {
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, tool)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", tool)
}
