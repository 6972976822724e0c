package dockerhost

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"golang.org/x/crypto/ssh"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// sshOptions are Options that reach the bed's remote host over ssh with the
// bed's client key and known_hosts.
func sshOptions(b *testbed.Bed) Options {
	return Options{
		Host:       b.DockerHostSSH(),
		Identities: []string{b.ClientKey},
		KnownHosts: []string{b.KnownHosts},
		Timeout:    10 * time.Second,
	}
}

func open(t *testing.T, opts Options) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Host, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// assertRemote proves that h reaches the bed's remote daemon: only that one
// has the marker volume (both daemons report the same version).
func assertRemote(t *testing.T, b *testbed.Bed, h *Host) {
	t.Helper()
	c, err := h.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.VolumeInspect(ctx, b.RemoteMarker); err != nil {
		t.Fatalf("the remote marker volume is not visible through %s: %v", h.Spec(), err)
	}
}

func TestSSHCheckReportsTheRemoteHost(t *testing.T) {
	b := bed.Get(t)
	h := open(t, sshOptions(b))
	assertRemote(t, b, h)
	r, err := Check(context.Background(), h, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.ServerVersion == "" || r.APIVersion == "" || r.OS != "linux" || r.Architecture == "" || r.StorageDriver == "" {
		t.Fatalf("incomplete report: %+v", r)
	}
	if r.Images < 1 {
		t.Errorf("report counts %d images; the bed imported a base image", r.Images)
	}
	if r.Latency <= 0 {
		t.Errorf("latency %v", r.Latency)
	}
	local, err := testbed.LocalClient(b.LocalSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if _, err := local.VolumeInspect(context.Background(), b.RemoteMarker); err == nil {
		t.Fatal("the local daemon has the remote marker: the bed cannot tell the hosts apart")
	}
}

func TestKnownHostsForms(t *testing.T) {
	b := bed.Get(t)
	hashed, err := b.KnownHostsLines(22, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := b.KnownHostsLines(22, false)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(hashed), "\n")
	var rsaOnly string
	for _, l := range lines {
		if strings.Contains(l, "ssh-rsa") {
			rsaOnly = l + "\n"
		}
	}
	tests := map[string]string{
		"hashed":                           hashed,
		"plain":                            plain,
		"hashed rsa only (keyscan -t rsa)": rsaOnly,
		"with comments and blank lines":    "# from ssh-keyscan\n\n" + hashed,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := sshOptions(b)
			opts.KnownHosts = []string{file}
			assertRemote(t, b, open(t, opts))
		})
	}
}

func TestUnknownHostKey(t *testing.T) {
	b := bed.Get(t)
	keys, err := b.HostKeys()
	if err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{
		"empty file":       writeTemp(t, ""),
		"missing file":     filepath.Join(t.TempDir(), "no-such-known_hosts"),
		"other hosts only": writeTemp(t, "|1|abc=|def= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"),
	} {
		t.Run(name, func(t *testing.T) {
			opts := sshOptions(b)
			opts.KnownHosts = []string{file}
			_, err := Open(context.Background(), opts)
			var unknown *UnknownHostKeyError
			if !errors.As(err, &unknown) {
				t.Fatalf("Open = %v, want an UnknownHostKeyError", err)
			}
			var match bool
			for _, k := range keys {
				match = match || ssh.FingerprintSHA256(k) == unknown.Fingerprint
			}
			if !match {
				t.Errorf("fingerprint %s is none of the host's keys", unknown.Fingerprint)
			}
			msg := err.Error()
			want := "ssh-keyscan -H -t " + keyscanType(unknown.KeyType) + " " + b.RemoteIP
			if !strings.Contains(msg, want) || !strings.Contains(msg, unknown.Fingerprint) || !strings.Contains(msg, "JETS_SSH_KNOWN") {
				t.Errorf("message does not say what to do:\n%s\nwant it to contain %q", msg, want)
			}
			if !IsUnreachable(err) {
				t.Error("IsUnreachable = false")
			}
		})
	}
}

func TestChangedHostKey(t *testing.T) {
	b := bed.Get(t)
	_, impostor, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(impostor)
	file := writeTemp(t, b.RemoteIP+" "+string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	opts := sshOptions(b)
	opts.KnownHosts = []string{file}
	_, err := Open(context.Background(), opts)
	var changed *HostKeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("Open = %v, want a HostKeyChangedError", err)
	}
	msg := err.Error()
	for _, want := range []string{ssh.FingerprintSHA256(signer.PublicKey()), changed.Fingerprint, "attack", file + ":1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	b := bed.Get(t)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := writeKey(t, stranger, false)
	opts := sshOptions(b)
	opts.Identities = []string{keyFile}
	_, err := Open(context.Background(), opts)
	var auth *AuthError
	if !errors.As(err, &auth) {
		t.Fatalf("Open = %v, want an AuthError", err)
	}
	msg := err.Error()
	for _, want := range []string{`"root"`, keyFile, "authorized_keys"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestIdentityFormats(t *testing.T) {
	b := bed.Get(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		key  any
		pem  bool
	}{
		{"ed25519 openssh", edKey, false},
		{"rsa openssh", rsaKey, false},
		{"rsa pem (pkcs1)", rsaKey, true},
		{"ecdsa openssh", ecKey, false},
		{"ecdsa pem (sec1)", ecKey, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeKey(t, tt.key, tt.pem)
			signer, err := ssh.NewSignerFromKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Authorize(signer.PublicKey()); err != nil {
				t.Fatal(err)
			}
			opts := sshOptions(b)
			opts.Identities = []string{file}
			assertRemote(t, b, open(t, opts))
		})
	}
	t.Run("default files in home", func(t *testing.T) {
		home := t.TempDir()
		key, err := os.ReadFile(b.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		// The default order tries id_rsa first: a key there that the server
		// refuses must not stop id_ed25519 from being offered.
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		mustWrite(t, filepath.Join(home, ".ssh", "id_rsa"), pemOf(t, stranger, false))
		mustWrite(t, filepath.Join(home, ".ssh", "id_ed25519"), key)
		known, _ := os.ReadFile(b.KnownHosts)
		mustWrite(t, filepath.Join(home, ".ssh", "known_hosts"), known)
		assertRemote(t, b, open(t, Options{Host: b.DockerHostSSH(), Home: home}))
	})
	t.Run("ssh-agent", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "agent.sock")
		agent := exec.Command("ssh-agent", "-D", "-a", sock)
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
		waitForSocket(t, sock)
		add := exec.Command("ssh-add", b.ClientKey)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v: %s", err, out)
		}
		opts := Options{Host: b.DockerHostSSH(), Home: t.TempDir(), AgentSocket: sock, KnownHosts: []string{b.KnownHosts}}
		assertRemote(t, b, open(t, opts))
	})
	t.Run("passphrase-protected key", func(t *testing.T) {
		block, err := ssh.MarshalPrivateKeyWithPassphrase(edKey, "", []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		file := writeTemp(t, string(pem.EncodeToMemory(block)))
		opts := sshOptions(b)
		opts.Identities = []string{file}
		_, err = Open(context.Background(), opts)
		if err == nil || !strings.Contains(err.Error(), "passphrase") || !strings.Contains(err.Error(), "ssh-agent") {
			t.Fatalf("Open = %v, want a passphrase error that points at ssh-agent", err)
		}
	})
}

func TestRemoteSocketProblems(t *testing.T) {
	b := bed.Get(t)
	t.Run("missing", func(t *testing.T) {
		opts := sshOptions(b)
		opts.Host = "ssh://root@" + b.RemoteIP + "/run/no-such-docker.sock"
		h := open(t, opts)
		_, err := h.Ping(context.Background())
		var sockErr *SocketError
		if !errors.As(err, &sockErr) || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "/run/no-such-docker.sock") {
			t.Fatalf("Ping = %v, want a missing-socket error", err)
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		opts := sshOptions(b)
		opts.Host = "ssh://" + testbed.UnprivilegedUser + "@" + b.RemoteIP + b.RemoteSocket
		h := open(t, opts)
		_, err := h.Ping(context.Background())
		var sockErr *SocketError
		if !errors.As(err, &sockErr) || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("Ping = %v, want a permission error", err)
		}
	})
}

func TestDialStdioFallback(t *testing.T) {
	b := bed.Get(t)
	if _, err := b.StartSSHD(context.Background(), testbed.SSHDOptions{Port: 2201, NoStreamLocal: true}); err != nil {
		t.Fatal(err)
	}
	known, err := b.KnownHostsLines(2201, true)
	if err != nil {
		t.Fatal(err)
	}
	for name, host := range map[string]string{
		"socket in the URL":   "ssh://root@" + b.RemoteIP + ":2201" + b.RemoteSocket,
		"remote default host": "ssh://root@" + b.RemoteIP + ":2201",
	} {
		t.Run(name, func(t *testing.T) {
			opts := sshOptions(b)
			opts.Host = host
			opts.KnownHosts = []string{writeTemp(t, known)}
			h := open(t, opts)
			assertRemote(t, b, h)
			if got := h.closer.(*sshTransport).mode.Load(); got != modeDialStdio {
				t.Fatalf("mode = %d, want dial-stdio", got)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	b := bed.Get(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepts, never speaks
		}
	}()
	tests := []struct {
		name, host string
		reason     string
	}{
		{"connection refused", "ssh://root@" + b.RemoteIP + ":2", "connection refused"},
		{"host name not found", "ssh://root@no-such-host.invalid", "host name not found"},
		{"handshake timeout", "ssh://root@" + silent.Addr().String(), "timed out"},
		{"tcp refused", "tcp://" + b.RemoteIP + ":2", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := sshOptions(b)
			opts.Host = tt.host
			opts.Timeout = 700 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			h, err := Open(ctx, opts)
			if err == nil {
				defer h.Close()
				_, err = h.Ping(ctx)
			}
			var u *UnreachableError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %v, want an UnreachableError saying %q", err, tt.reason)
			}
			if ctx.Err() != nil {
				t.Fatal("the test's own deadline expired: the timeout was not honoured")
			}
		})
	}
}

func TestPeerIsNotDocker(t *testing.T) {
	b := bed.Get(t)
	// The sshd port speaks SSH, not HTTP.
	h := open(t, Options{Host: "tcp://" + b.RemoteIP + ":22", Timeout: 3 * time.Second})
	_, err := h.Ping(context.Background())
	var nd *NotDockerError
	if !errors.As(err, &nd) {
		t.Fatalf("Ping = %v, want a NotDockerError", err)
	}
}

func TestSSHDKilledMidStream(t *testing.T) {
	b := bed.Get(t)
	name, err := b.StartSSHD(context.Background(), testbed.SSHDOptions{Port: 2202})
	if err != nil {
		t.Fatal(err)
	}
	known, _ := b.KnownHostsLines(2202, true)
	for _, tt := range []struct {
		name   string
		signal syscall.Signal
	}{
		{"killed", syscall.SIGKILL},
		{"frozen", syscall.SIGSTOP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := sshOptions(b)
			opts.Host = "ssh://root@" + b.RemoteIP + ":2202" + b.RemoteSocket
			opts.KnownHosts = []string{writeTemp(t, known)}
			opts.KeepAlive = 300 * time.Millisecond
			h := open(t, opts)
			c, err := h.NewClient()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			msgs, errs := c.Events(ctx, events.ListOptions{})
			if _, err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the events stream is open
			if err := b.SignalSSHD(name, tt.signal, false); err != nil {
				t.Fatal(err)
			}
			defer b.SignalSSHD(name, syscall.SIGKILL, false) // frozen sessions must not linger
			select {
			case err := <-errs:
				if ctx.Err() != nil {
					t.Fatalf("the stream ended only at the test's deadline: %v", err)
				}
				t.Logf("stream ended with: %v", err)
			case m := <-msgs:
				t.Fatalf("unexpected event %+v", m)
			case <-ctx.Done():
				t.Fatal("the stream hung after sshd was " + tt.name)
			}
			// The next call redials once over a new connection.
			assertRemote(t, b, h)
		})
	}
}

func waitForSocket(t *testing.T, path string) {
	t.Helper()
	for range 100 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "file")
	mustWrite(t, f, []byte(content))
	return f
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKey(t *testing.T, key any, pemFormat bool) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "id")
	mustWrite(t, f, pemOf(t, key, pemFormat))
	return f
}

// pemOf encodes a private key in OpenSSH format, or in the classic PEM
// formats (PKCS#1 for RSA, SEC 1 for ECDSA).
func pemOf(t *testing.T, key any, pemFormat bool) []byte {
	t.Helper()
	if !pemFormat {
		block, err := ssh.MarshalPrivateKey(key, "")
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(block)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	t.Fatalf("no PEM form for %T", key)
	return nil
}

var _ = io.EOF
