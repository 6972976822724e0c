package testbed

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnprivilegedUser is a system user the bed creates for tests that need an
// SSH login without access to the Docker socket.
const UnprivilegedUser = "jetway-tb"

func (b *Bed) setupSSHKeys(context.Context) error {
	b.SSHDir = filepath.Join(b.Dir, "ssh")
	if err := os.MkdirAll(b.SSHDir, 0o755); err != nil {
		return err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return err
	}
	for name, key := range map[string]any{"host_ed25519": edKey, "host_rsa": rsaKey} {
		if err := writePrivateKey(filepath.Join(b.SSHDir, name), key); err != nil {
			return err
		}
	}
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	b.ClientKey = filepath.Join(b.Dir, "client", "id_ed25519")
	if err := os.MkdirAll(filepath.Dir(b.ClientKey), 0o700); err != nil {
		return err
	}
	if err := writePrivateKey(b.ClientKey, clientKey); err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(clientKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.SSHDir, "authorized_keys"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		return err
	}
	b.KnownHosts = filepath.Join(b.Dir, "client", "known_hosts")
	lines, err := b.KnownHostsLines(22, true)
	if err != nil {
		return err
	}
	return os.WriteFile(b.KnownHosts, []byte(lines), 0o600)
}

func writePrivateKey(path string, key any) error {
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// HostKeys returns the remote sshd's public host keys.
func (b *Bed) HostKeys() ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for _, name := range []string{"host_ed25519", "host_rsa"} {
		data, err := os.ReadFile(filepath.Join(b.SSHDir, name))
		if err != nil {
			return nil, err
		}
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, err
		}
		keys = append(keys, signer.PublicKey())
	}
	return keys, nil
}

// KnownHostsLines renders known_hosts lines for the remote sshd on port, as
// `ssh-keyscan [-H]` would print them.
func (b *Bed) KnownHostsLines(port int, hashed bool) (string, error) {
	keys, err := b.HostKeys()
	if err != nil {
		return "", err
	}
	addr := knownhosts.Normalize(net.JoinHostPort(b.RemoteIP, itoa(port)))
	var sb strings.Builder
	for _, k := range keys {
		host := addr
		if hashed {
			host = knownhosts.HashHostname(addr)
		}
		sb.WriteString(knownhosts.Line([]string{host}, k) + "\n")
	}
	return sb.String(), nil
}

// Authorize adds a public key to the remote sshd's authorized_keys.
func (b *Bed) Authorize(key ssh.PublicKey) error {
	f, err := os.OpenFile(filepath.Join(b.SSHDir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(ssh.MarshalAuthorizedKey(key))
	return err
}

// SSHDOptions configure an extra sshd in the remote namespace.
type SSHDOptions struct {
	Port int
	// NoStreamLocal forbids direct-streamlocal forwarding, so clients must
	// fall back to `docker system dial-stdio`.
	NoStreamLocal bool
}

// StartSSHD starts an sshd in the remote namespace on opts.Port and waits
// until it accepts connections. It returns the sshd's process name.
func (b *Bed) StartSSHD(ctx context.Context, opts SSHDOptions) (string, error) {
	if err := os.MkdirAll(filepath.Join(b.SSHDir, "home"), 0o700); err != nil {
		return "", err
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return "", err
	}
	if err := ensureUser(ctx, UnprivilegedUser); err != nil {
		return "", err
	}
	name := fmt.Sprintf("sshd-%d", opts.Port)
	streamLocal := "yes"
	if opts.NoStreamLocal {
		streamLocal = "no"
	}
	config := strings.Join([]string{
		"Port " + itoa(opts.Port),
		"ListenAddress " + b.RemoteIP,
		"HostKey " + filepath.Join(b.SSHDir, "host_ed25519"),
		"HostKey " + filepath.Join(b.SSHDir, "host_rsa"),
		"PidFile " + filepath.Join(b.SSHDir, name+".pid"),
		"AuthorizedKeysFile " + filepath.Join(b.SSHDir, "authorized_keys"),
		"StrictModes no",
		"UsePAM yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowStreamLocalForwarding " + streamLocal,
		"AllowTcpForwarding yes",
		"MaxStartups 100:30:200",
		"MaxSessions 100",
		// HOME: the remote user's shell reads ~/.bashrc for commands sent
		// over ssh, and this machine's root runs pyenv there, which waits a
		// minute on a lock that a killed session leaves behind. A real
		// Docker host's user has a home of its own.
		"SetEnv DOCKER_HOST=unix://" + b.RemoteSocket + " HOME=" + filepath.Join(b.SSHDir, "home"),
		"LogLevel VERBOSE",
		"",
	}, "\n")
	cfgPath := filepath.Join(b.SSHDir, name+".conf")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return "", err
	}
	sshd, err := lookPath("sshd")
	if err != nil {
		return "", err
	}
	// -D keeps sshd in the foreground so the bed tracks its pid; -e logs to
	// stderr (the bed's log file).
	if _, err := b.start(name, "ip", "netns", "exec", b.NetNS, sshd, "-D", "-e", "-f", cfgPath); err != nil {
		return "", err
	}
	addr := net.JoinHostPort(b.RemoteIP, itoa(opts.Port))
	err = b.waitFor(ctx, name, 20*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 4)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil || string(buf) != "SSH-" {
			return fmt.Errorf("no SSH banner yet: %v", err)
		}
		return nil
	})
	return name, err
}

// ensureUser creates a locked-password system user with a shell, if absent.
func ensureUser(ctx context.Context, name string) error {
	if _, err := output(ctx, "id", "-u", name); err == nil {
		return nil
	}
	var err error
	for range 10 {
		// Parallel beds may race on /etc/passwd's lock: retry.
		if err = run(ctx, "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name); err == nil {
			break
		}
		if _, idErr := output(ctx, "id", "-u", name); idErr == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	return run(ctx, "usermod", "-p", "*", name)
}
