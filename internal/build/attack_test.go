package build

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"github.com/moby/buildkit/session/auth"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// The attack: a build step given the run's key through RUN
// --mount=type=ssh talks to the agent socket BuildKit forwards over the
// session. It may sign (that is what the mount is for), but not read the
// key out, swap it, add its own for the steps after it, or lock the
// agent; what it lists is the public key only.
func TestBuildSSHAgentOnlySigns(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := newAgentProvider(map[string][]byte{"default": pem.EncodeToMemory(block)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.lookup("")
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	go func() { _ = agent.ServeAgent(a, c2); c2.Close() }()
	client := agent.NewClient(c1)

	keys, err := client.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the agent lists %v, %v; want the one key", keys, err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(keys[0].Marshal(), signer.PublicKey().Marshal()) {
		t.Fatal("the agent lists another key than the run's")
	}
	sig, err := client.Sign(keys[0], []byte("challenge"))
	if err != nil {
		t.Fatalf("the agent does not sign: %v", err)
	}
	if err := signer.PublicKey().Verify([]byte("challenge"), sig); err != nil {
		t.Fatalf("the signature is not the run key's: %v", err)
	}

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if err := client.Add(agent.AddedKey{PrivateKey: other}); err == nil {
		t.Error("a build step added a key to the run's agent")
	}
	if err := client.Remove(keys[0]); err == nil {
		t.Error("a build step removed the run's key from the agent")
	}
	if err := client.RemoveAll(); err == nil {
		t.Error("a build step emptied the agent")
	}
	if err := client.Lock([]byte("x")); err == nil {
		t.Error("a build step locked the agent for the steps after it")
	}
	if _, err := client.Extension("session-bind@openssh.com", nil); err == nil {
		t.Error("the agent answered an extension")
	}
	if keys, err := client.List(); err != nil || len(keys) != 1 {
		t.Errorf("after the attempts the agent lists %v, %v; want the run's key still", keys, err)
	}
	if _, err := p.lookup("other"); err == nil {
		t.Error("a mount with an id image.ssh does not list got an agent")
	}
}

// The attack: a Dockerfile written by a phase pulls FROM a registry of
// its own whose name contains or prefixes the run's registry, or asks for
// credentials in the run registry's name with another port or path. The
// run's login answers only for its own host.
func TestBuildCredentialsOnlyForTheRunsRegistry(t *testing.T) {
	p := &authProvider{auth: map[string]registry.AuthConfig{
		"registry.example.com:5000": {Username: "u", Password: "p"},
	}}
	for _, host := range []string{
		"registry.example.com",
		"registry.example.com:5001",
		"registry.example.com:5000.evil.net",
		"evil.net",
		"evil.net/registry.example.com:5000",
		"registry.example.com:50000",
		"",
	} {
		resp, err := p.Credentials(context.Background(), &auth.CredentialsRequest{Host: host})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Username != "" || resp.Secret != "" {
			t.Errorf("credentials for %q: got the run's login", host)
		}
	}
	resp, _ := p.Credentials(context.Background(), &auth.CredentialsRequest{Host: "registry.example.com:5000"})
	if resp.Secret != "p" {
		t.Error("the run's own registry got no credentials")
	}
}

// The attack: a phase leaves a FIFO, a socket and a device-like node in
// the workspace, and swaps a listed file for a FIFO before the daemon asks
// for it. The file sync lists none of them and never blocks opening one.
func TestSyncFSSkipsSpecialFilesWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("app"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := syscall.Mknod(filepath.Join(dir, "zero"), syscall.S_IFCHR|0o666, 1<<8|5); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	w := &workspaceFS{root: root}
	var listed []string
	if err := w.Walk(context.Background(), "/", func(p string, _ fs.DirEntry, err error) error {
		listed = append(listed, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != "app" {
		t.Errorf("the sync lists %v; want only app", listed)
	}
	// Swapped after the listing: Open must neither block on the FIFO nor
	// stream the device.
	if err := os.Remove(filepath.Join(dir, "app")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "app"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app", "zero", "sock"} {
		if rc, err := w.Open(name); err == nil {
			rc.Close()
			t.Errorf("Open(%s) opened a special file", name)
		}
	}
}
