// Package testbed builds the hosts that jetway's integration tests, demo and
// benchmarks run against, on one machine:
//
//   - a "remote Docker host": a network namespace joined to this machine by a
//     veth pair, with its own dockerd (unix socket, plus TLS on :2376) and an
//     sshd with generated host keys and an authorized client key;
//   - a local dockerd, as a runner machine has, also on plain tcp;
//   - a registry (Debian's docker-registry) with htpasswd auth;
//   - a base image imported from a busybox-static rootfs into both daemons
//     (there is no Docker Hub), and a volume and an image tag that exist
//     only on the remote daemon, so a test can prove that a command reached
//     that host (phases, behind the Docker guard, see the image only).
//
// Tests and the jetway-testbed command both use Up and Down, so the two never
// drift. Every bed has its own namespace, veth names, /30 subnet and
// directory, so test packages running in parallel do not collide; a bed whose
// owning process died is swept by the next Up.
//
//	bed, err := testbed.Up(ctx, testbed.Config{})
//	defer bed.Down()
//	// DOCKER_HOST=bed.DockerHostSSH(), keys in bed.ClientKey, bed.KnownHosts
package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// BaseImage is the busybox image imported into both daemons.
const BaseImage = "jetway-testbed/busybox:latest"

// registryDir holds one pointer file per bed, for sweeping and `down --all`.
const registryDir = "/run/jetway-testbed"

// Config chooses what Up starts.
type Config struct {
	// Owner is the process whose death makes the bed stale; 0 means the
	// bed lives until Down (the jetway-testbed command uses that).
	Owner int
	// NoLocalDocker skips the local dockerd.
	NoLocalDocker bool
	// NoRegistry skips the registry.
	NoRegistry bool
	Logger     *slog.Logger
}

// Bed describes a running test bed. It is saved as JSON in Dir/state.json.
type Bed struct {
	ID    string `json:"id"`
	Dir   string `json:"dir"`
	Owner int    `json:"owner"`

	NetNS    string `json:"netns"`
	VethHost string `json:"veth_host"`
	Subnet   int    `json:"subnet"`
	HostIP   string `json:"host_ip"`   // this machine's end of the veth
	RemoteIP string `json:"remote_ip"` // the remote host's address

	RemoteSocket string `json:"remote_socket"` // the remote dockerd's unix socket (same file system)
	RemoteTLS    string `json:"remote_tls"`    // tcp://RemoteIP:2376
	TLSCertDir   string `json:"tls_cert_dir"`  // ca.pem, cert.pem, key.pem for RemoteTLS
	SSHUser      string `json:"ssh_user"`
	ClientKey    string `json:"client_key"`  // private key authorized on the remote sshd
	KnownHosts   string `json:"known_hosts"` // hashed entries for both host keys
	SSHDir       string `json:"ssh_dir"`     // sshd's host keys, config, authorized_keys
	RemoteMarker string `json:"remote_marker"`

	LocalSocket string `json:"local_socket,omitempty"`
	LocalTCP    string `json:"local_tcp,omitempty"` // tcp://HostIP:2375, plain

	Registry     string `json:"registry,omitempty"` // host:port
	RegistryUser string `json:"registry_user,omitempty"`
	RegistryPass string `json:"registry_pass,omitempty"`

	Procs []Proc `json:"procs"`

	log *slog.Logger
}

// Proc is a daemon the bed started.
type Proc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
}

// DockerHostSSH is the DOCKER_HOST URL of the remote daemon over ssh.
func (b *Bed) DockerHostSSH() string {
	return fmt.Sprintf("ssh://%s@%s%s", b.SSHUser, b.RemoteIP, b.RemoteSocket)
}

// Up starts a new bed. On failure it tears down what it had started.
func Up(ctx context.Context, cfg Config) (bed *Bed, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the test bed needs root (network namespaces, dockerd)")
	}
	if err := CheckTools(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	Sweep(log)
	id := randomID()
	b := &Bed{ID: id, Dir: filepath.Join(os.TempDir(), "jwtb-"+id), Owner: cfg.Owner, log: log, SSHUser: "root"}
	defer func() {
		if err != nil {
			if derr := b.Down(); derr != nil {
				log.Warn("cleaning up a failed test bed", "err", derr)
			}
			bed = nil
		}
	}()
	if err := os.MkdirAll(registryDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(b.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := b.save(); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		run  func(context.Context) error
		skip bool
	}{
		{"network", b.setupNetwork, false},
		{"tls", b.setupTLS, false},
		{"ssh keys", b.setupSSHKeys, false},
		{"registry", b.startRegistry, cfg.NoRegistry},
		{"remote dockerd", b.startRemoteDocker, false},
		{"local dockerd", b.startLocalDocker, cfg.NoLocalDocker},
		{"sshd", func(ctx context.Context) error { _, err := b.StartSSHD(ctx, SSHDOptions{Port: 22}); return err }, false},
		{"images", b.seedImages, false},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		start := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("test bed %s: %s: %w", id, s.name, err)
		}
		log.Debug("test bed step done", "step", s.name, "took", time.Since(start))
		if err := b.save(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Load reads the state of a bed from its directory.
func Load(dir string) (*Bed, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var b Bed
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	b.log = slog.New(slog.DiscardHandler)
	return &b, nil
}

// List returns the beds this machine has, live or stale.
func List() ([]*Bed, error) {
	entries, err := os.ReadDir(registryDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var beds []*Bed
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		dir, err := os.ReadFile(filepath.Join(registryDir, e.Name()))
		if err != nil {
			continue
		}
		b, err := Load(string(dir))
		if err != nil {
			// The directory is gone: only the pointer and perhaps the
			// namespace are left.
			b = &Bed{ID: e.Name(), Dir: string(dir), NetNS: "jw-" + e.Name(), log: slog.New(slog.DiscardHandler)}
		}
		beds = append(beds, b)
	}
	return beds, nil
}

// Sweep tears down beds whose owning process has died.
func Sweep(log *slog.Logger) {
	beds, err := List()
	if err != nil {
		return
	}
	for _, b := range beds {
		if b.Owner != 0 && !alive(b.Owner) {
			b.log = log
			log.Info("removing a stale test bed", "id", b.ID, "owner", b.Owner)
			if err := b.Down(); err != nil {
				log.Warn("removing a stale test bed", "id", b.ID, "err", err)
			}
		}
	}
}

func (b *Bed) save() error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "state.json"), data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(registryDir, b.ID), []byte(b.Dir), 0o644)
}

func randomID() string {
	var buf [3]byte
	_, _ = rand.Read(buf[:])
	return hex.EncodeToString(buf[:])
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func itoa(n int) string { return strconv.Itoa(n) }
