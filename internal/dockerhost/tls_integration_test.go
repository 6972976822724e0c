package dockerhost

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/testbed"
)

func TestTLSHost(t *testing.T) {
	b := bed.Get(t)
	tlsOpts := func(certPath string) Options {
		return Options{Host: b.RemoteTLS, TLSVerify: true, CertPath: certPath, Timeout: 5 * time.Second}
	}
	t.Run("good certificates", func(t *testing.T) {
		assertRemote(t, b, open(t, tlsOpts(b.TLSCertDir)))
	})
	t.Run("default cert path is ~/.docker", func(t *testing.T) {
		home := t.TempDir()
		for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
			data := readFile(t, filepath.Join(b.TLSCertDir, name))
			mustWrite(t, filepath.Join(home, ".docker", name), data)
		}
		opts := tlsOpts("")
		opts.Home = home
		assertRemote(t, b, open(t, opts))
	})
	t.Run("missing files", func(t *testing.T) {
		_, err := Open(context.Background(), tlsOpts(t.TempDir()))
		var tlsErr *TLSError
		if !errors.As(err, &tlsErr) || !strings.Contains(err.Error(), "ca.pem is missing") || !strings.Contains(err.Error(), "DOCKER_TLS_CA") {
			t.Fatalf("Open = %v, want a TLSError naming ca.pem and DOCKER_TLS_CA", err)
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		other, err := testbed.NewCA("some other CA")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := other.WriteClientDir(dir); err != nil {
			t.Fatal(err)
		}
		h := open(t, tlsOpts(dir))
		_, err = h.Ping(context.Background())
		var tlsErr *TLSError
		if !errors.As(err, &tlsErr) || !strings.Contains(err.Error(), "not signed by ca.pem") {
			t.Fatalf("Ping = %v, want a TLSError about the CA", err)
		}
	})
	t.Run("plain tcp to a TLS port", func(t *testing.T) {
		h := open(t, Options{Host: b.RemoteTLS, Timeout: 5 * time.Second})
		_, err := h.Ping(context.Background())
		var nd *NotDockerError
		if !errors.As(err, &nd) || !strings.Contains(err.Error(), "DOCKER_TLS_VERIFY") {
			t.Fatalf("Ping = %v, want a NotDockerError that suggests TLS", err)
		}
	})
	t.Run("TLS to a plain port", func(t *testing.T) {
		h := open(t, Options{Host: b.LocalTCP, TLSVerify: true, CertPath: b.TLSCertDir, Timeout: 5 * time.Second})
		_, err := h.Ping(context.Background())
		var nd *NotDockerError
		if !errors.As(err, &nd) {
			t.Fatalf("Ping = %v, want a NotDockerError (no TLS there)", err)
		}
	})
	t.Run("plain tcp", func(t *testing.T) {
		h := open(t, Options{Host: b.LocalTCP, Timeout: 5 * time.Second})
		if _, err := h.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unix socket", func(t *testing.T) {
		h := open(t, Options{Host: "unix://" + b.RemoteSocket})
		assertRemote(t, b, h)
	})
	t.Run("unix socket missing", func(t *testing.T) {
		h := open(t, Options{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock")})
		_, err := h.Ping(context.Background())
		var se *SocketError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("Ping = %v, want a missing-socket error", err)
		}
	})
}
