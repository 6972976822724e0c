//go:build linux

package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// serverEnv starts a real server and returns a client environment whose
// home holds the server's data dir at the default place, so no token or
// address needs setting.
func serverEnv(t *testing.T) map[string]string {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	c := &CLI{Getenv: func(k string) string { return env[k] }}
	url, _ := servertest.Start(t, server.Options{DataDir: c.DefaultDataDir()})
	env["JETWAY_SERVER"] = url
	return env
}

func TestParamsCommands(t *testing.T) {
	env := serverEnv(t)
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\r\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n\n"
	keyFile := filepath.Join(t.TempDir(), "key")
	must(t, os.WriteFile(keyFile, []byte(key), 0o600))

	code, out, errOut := runJetway(t, env, "params", "put", "/dev/JETS_SSH_KEY", "--type", "SecureString", "--value-file", keyFile)
	if code != 0 || !strings.Contains(out, "version 1") {
		t.Fatalf("put: %d %s %s", code, out, errOut)
	}
	code, _, errOut = runJetway(t, env, "params", "put", "/dev/JETS_SSH_KEY", "--type", "SecureString", "--value", "xxxxxxxx")
	if code != ExitFailed || !strings.Contains(errOut, "--overwrite") {
		t.Fatalf("put over an existing one: %d %s", code, errOut)
	}
	code, out, errOut = runJetway(t, env, "params", "get", "/dev/JETS_SSH_KEY", "--decrypt")
	if code != 0 || out != key {
		t.Fatalf("get --decrypt: %d %q %s; want the key byte for byte", code, out, errOut)
	}
	code, out, errOut = runJetway(t, env, "params", "get", "/dev/JETS_SSH_KEY")
	if code != ExitFailed || strings.Contains(out, "AAAA") || !strings.Contains(errOut, "--decrypt") {
		t.Fatalf("get without --decrypt: %d %q %s", code, out, errOut)
	}

	// From standard input.
	var stdout, stderr strings.Builder
	stdin := "|1|abc=|def= ssh-rsa AAAAB3Nza\n"
	code = Main(context.Background(), []string{"params", "put", "/dev/JETS_SSH_KNOWN", "--type", "SecureString"},
		Streams{In: strings.NewReader(stdin), Out: &stdout, Err: &stderr}, func(k string) string { return env[k] })
	if code != 0 {
		t.Fatalf("put from stdin: %d %s", code, stderr.String())
	}
	_, out, _ = runJetway(t, env, "params", "get", "/dev/JETS_SSH_KNOWN", "--decrypt")
	if out != stdin {
		t.Fatalf("stdin value: %q", out)
	}

	runJetway(t, env, "params", "put", "/dev/DOCKER_USER", "--value", "deploybot")
	runJetway(t, env, "params", "put", "/prod/DOCKER_USER", "--value", "prodbot")
	code, out, _ = runJetway(t, env, "params", "ls", "/dev")
	if code != 0 || !strings.Contains(out, "/dev/JETS_SSH_KEY") || !strings.Contains(out, "SecureString") || strings.Contains(out, "/prod/") {
		t.Fatalf("ls /dev: %s", out)
	}
	for _, secret := range []string{"AAAA", "ssh-rsa", "deploybot"} {
		if strings.Contains(out, secret) {
			t.Errorf("ls printed a value (%q):\n%s", secret, out)
		}
	}
	code, _, _ = runJetway(t, env, "params", "rm", "/dev/DOCKER_USER")
	if code != 0 {
		t.Fatal("rm failed")
	}
	code, _, errOut = runJetway(t, env, "params", "get", "/dev/DOCKER_USER")
	if code != ExitFailed || !strings.Contains(errOut, "not found") {
		t.Fatalf("get after rm: %d %s", code, errOut)
	}
	code, _, errOut = runJetway(t, env, "params", "put", "bad name", "--value", "x")
	if code != ExitUsage || !strings.Contains(errOut, `"bad name"`) {
		t.Fatalf("bad name: %d %s", code, errOut)
	}
	// Without the token the server refuses; without a server the CLI says so.
	code, _, errOut = runJetway(t, map[string]string{"HOME": t.TempDir(), "JETWAY_SERVER": env["JETWAY_SERVER"]}, "params", "ls")
	if code != ExitFailed || !strings.Contains(errOut, "token") {
		t.Fatalf("no token: %d %s", code, errOut)
	}
	code, _, errOut = runJetway(t, map[string]string{"HOME": t.TempDir(), "JETWAY_SERVER": "http://127.0.0.1:1"}, "params", "ls")
	if code != ExitUnreachable || !strings.Contains(errOut, "jetway server") {
		t.Fatalf("no server: %d %s", code, errOut)
	}
}

// A SecureString shorter than the masker's minimum is refused at once (no
// server is asked: the one given is not there), not when a run reads it.
func TestParamsPutShortSecret(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "JETWAY_SERVER": "http://127.0.0.1:1", "JETWAY_TOKEN": "t", "JETWAY_RUNTIME_DIR": t.TempDir()}
	short := strings.Repeat("s", mask.MinSecretLen-1)
	for _, args := range [][]string{
		{"--value", "x"},
		{"--value", short},
	} {
		code, _, errOut := runJetway(t, env, append([]string{"params", "put", "/dev/PIN", "--type", "SecureString"}, args...)...)
		want := fmt.Sprintf("a SecureString must be at least %d bytes", mask.MinSecretLen)
		if code != ExitUsage || !strings.Contains(errOut, want) {
			t.Errorf("put %v: %d %q, want 2 and %q", args, code, errOut, want)
		}
	}
	// Long enough, or not secure: on to the server (unreachable here).
	for _, args := range [][]string{
		{"--type", "SecureString", "--value", strings.Repeat("s", mask.MinSecretLen)},
		{"--type", "String", "--value", "x"},
	} {
		if code, _, errOut := runJetway(t, env, append([]string{"params", "put", "/dev/PIN"}, args...)...); code != ExitUnreachable {
			t.Errorf("put %v: %d %q, want 3 (the server asked)", args, code, errOut)
		}
	}
}
