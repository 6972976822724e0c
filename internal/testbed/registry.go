package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// startRegistry runs Debian's docker-registry on this machine's veth address,
// so both daemons reach it, with htpasswd (bcrypt) auth.
func (b *Bed) startRegistry(ctx context.Context) error {
	dir := filepath.Join(b.Dir, "registry")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return err
	}
	var pass [12]byte
	_, _ = rand.Read(pass[:])
	b.RegistryUser, b.RegistryPass = "deploybot", hex.EncodeToString(pass[:])
	hash, err := bcrypt.GenerateFromPassword([]byte(b.RegistryPass), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(b.RegistryUser+":"+string(hash)+"\n"), 0o644); err != nil {
		return err
	}
	b.Registry = net.JoinHostPort(b.HostIP, "5000")
	config := registryConfig(filepath.Join(dir, "data"), b.Registry, filepath.Join(dir, "htpasswd"), "")
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return err
	}
	if _, err := b.start("registry", "docker-registry", "serve", cfgPath); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	return b.waitFor(ctx, "registry", 20*time.Second, func() error {
		resp, err := client.Get("http://" + b.Registry + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("GET /v2/ answered %s, want 401", resp.Status)
		}
		return nil
	})
}

// registryConfig is a docker-registry configuration: storage in root, the
// bed's htpasswd login, served on addr; httpExtra goes under http: (TLS).
func registryConfig(root, addr, htpasswd, httpExtra string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s%s
auth:
  htpasswd:
    realm: jetway-testbed
    path: %s
`, root, addr, httpExtra, htpasswd)
}
