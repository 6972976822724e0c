package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientFindsServerOnItsMachine: a server with a --listen and --data
// of its own is found by a client given no server, no token and no login
// (issue 25), through the server.json it records; on a clean stop the
// record goes. A login saved as a context reaches it too.
//
// Both get JETWAY_RUNTIME_DIR, the one place they share, so that servers
// of other tests on this machine (root's /run/jetway) cannot answer.
func TestClientFindsServerOnItsMachine(t *testing.T) {
	home, data, runDir := t.TempDir(), filepath.Join(t.TempDir(), "srv-data"), t.TempDir()
	port := freePort(t)
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "JETWAY_RUNTIME_DIR=" + runDir}
	log := &syncBuffer{}
	srv := exec.Command(jetwayBinary(t), "server", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data, "--concurrency", "0")
	srv.Env, srv.Stdout, srv.Stderr = env, log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serverProc{t: t, cmd: srv, URL: fmt.Sprintf("http://127.0.0.1:%d", port), DataDir: data, Home: home, log: log}
	t.Cleanup(s.stop)
	record := filepath.Join(runDir, "server.json")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "clients:") {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start:\n%s", log.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "find this server through "+record) {
		t.Errorf("the start message does not say how clients find the server:\n%s", log.String())
	}
	rec, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(data, "token"))
	if err != nil || bytes.Contains(rec, bytes.TrimSpace(token)) {
		t.Fatalf("the record holds the token (or there is none: %v):\n%s", err, rec)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := exec.CommandContext(ctx, jetwayBinary(t), "runs")
	cli.Env, cli.Dir = env, t.TempDir()
	var out, errb bytes.Buffer
	cli.Stdout, cli.Stderr = &out, &errb
	if err := cli.Run(); err != nil {
		t.Fatalf("jetway runs with no settings: %v\nstdout: %s\nstderr: %s\nserver:\n%s", err, out.String(), errb.String(), log.String())
	}

	// jetway login checks the token against the real server and saves a
	// context the next command uses.
	login := exec.CommandContext(ctx, jetwayBinary(t), "login", "--name", "here", "--server", s.URL, "--token", string(bytes.TrimSpace(token)))
	login.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "JETWAY_RUNTIME_DIR=" + t.TempDir()}
	if out, err := login.CombinedOutput(); err != nil || !strings.Contains(string(out), "logged in to "+s.URL+" as ") {
		t.Fatalf("login: %v\n%s", err, out)
	}
	ls := exec.CommandContext(ctx, jetwayBinary(t), "context", "ls")
	ls.Env = login.Env
	if out, err := ls.CombinedOutput(); err != nil || !strings.Contains(string(out), "*        here  "+s.URL) {
		t.Fatalf("context ls: %v\n%s", err, out)
	}
	runs := exec.CommandContext(ctx, jetwayBinary(t), "runs", "--context", "here")
	runs.Env = login.Env
	if out, err := runs.CombinedOutput(); err != nil {
		t.Fatalf("runs --context here: %v\n%s", err, out)
	}

	s.stop()
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("the record outlives the server: %v", err)
	}
}
