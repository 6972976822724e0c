package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// dockerCertsDir is where dockerd (run as root, not rootless) looks for a
// registry's CA: certs.d/HOST:PORT/ca.crt. It is this machine's, shared by
// every daemon; there is no per-daemon setting.
const dockerCertsDir = "/etc/docker/certs.d"

// tlsMarker names the file that marks a certs.d entry as a bed's, holding
// the bed's directory, so a later call removes entries of beds gone.
const tlsMarker = "jetway-testbed"

const tlsRegistryName = "registry-tls"

// StartTLSRegistry runs a second registry on this machine's veth address,
// port 5443, over HTTPS with a certificate of a CA of its own, with the
// same htpasswd user as Registry, and makes this machine's dockerds trust
// that CA through /etc/docker/certs.d/HOST:PORT/ca.crt.
//
// dockerd's BuildKit builds its registry settings once, when the daemon
// starts (moby's Daemon.RegistryHosts reads certs.d then), so only
// daemons started after this call pull from it and import cache from it
// through BuildKit: start them with NewBridgedDocker afterwards. The bed's
// plain registry does not do for BuildKit: dockerd 20.10 passes an
// --insecure-registry written HOST:PORT to BuildKit as nothing at all
// (url.Parse fails on it), so BuildKit speaks HTTPS to it; only the
// http://HOST:PORT form makes it plain HTTP.
//
// stop kills the registry and removes its certs.d entry; Down kills the
// registry too, and the next call removes entries of beds gone.
func (b *Bed) StartTLSRegistry(ctx context.Context) (addr string, stop func() error, err error) {
	if b.HostIP == "" || b.Registry == "" {
		return "", nil, errors.New("test bed: the TLS registry needs a bed with its network and registry up")
	}
	sweepCertsDirs()
	dir := filepath.Join(b.Dir, tlsRegistryName)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return "", nil, err
	}
	addr = net.JoinHostPort(b.HostIP, "5443")
	trustDir := filepath.Join(dockerCertsDir, addr)
	stop = func() error {
		if p := b.proc(tlsRegistryName); p != nil {
			_ = syscall.Kill(p.PID, syscall.SIGTERM)
			waitGone([]int{p.PID}, 10*time.Second)
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		for i, p := range b.Procs {
			if p.Name == tlsRegistryName {
				b.Procs = append(b.Procs[:i], b.Procs[i+1:]...)
				break
			}
		}
		return errors.Join(os.RemoveAll(trustDir), b.save())
	}
	defer func() {
		if err != nil {
			_ = stop()
		}
	}()
	ca, err := NewCA("jetway test bed registry CA " + b.ID)
	if err != nil {
		return "", nil, err
	}
	cert, key, err := ca.Issue("test bed registry", net.ParseIP(b.HostIP))
	if err != nil {
		return "", nil, err
	}
	files := map[string][]byte{"ca.crt": ca.PEM, "cert.pem": cert, "key.pem": key}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", nil, err
		}
	}
	if err := os.MkdirAll(trustDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("trusting the registry's CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(trustDir, tlsMarker), []byte(b.Dir), 0o644); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(trustDir, "ca.crt"), ca.PEM, 0o644); err != nil {
		return "", nil, err
	}
	config := registryConfig(filepath.Join(dir, "data"), addr, filepath.Join(b.Dir, "registry", "htpasswd"), fmt.Sprintf(`
  tls:
    certificate: %s
    key: %s`, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")))
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return "", nil, err
	}
	if _, err := b.start(tlsRegistryName, "docker-registry", "serve", cfgPath); err != nil {
		return "", nil, err
	}
	if err := b.save(); err != nil {
		return "", nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	err = b.waitFor(ctx, tlsRegistryName, 20*time.Second, func() error {
		resp, err := client.Get("https://" + addr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("GET /v2/ answered %s, want 401", resp.Status)
		}
		return nil
	})
	return addr, stop, err
}

// sweepCertsDirs removes the certs.d entries of beds whose directory is
// gone (a test killed before its stop ran).
func sweepCertsDirs() {
	entries, err := os.ReadDir(dockerCertsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), subnetBase+".") {
			continue
		}
		p := filepath.Join(dockerCertsDir, e.Name())
		owner, err := os.ReadFile(filepath.Join(p, tlsMarker))
		if err != nil {
			continue // not ours
		}
		if _, err := os.Stat(string(owner)); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(p)
		}
	}
}
