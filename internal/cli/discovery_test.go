//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestClientFindsRecordedServer(t *testing.T) {
	home, run := t.TempDir(), t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600))
	env := map[string]string{"HOME": home, "JETWAY_RUNTIME_DIR": run}
	c := &CLI{Getenv: func(k string) string { return env[k] }}

	path, remove, err := writeServerRecord(run, serverRecord{URL: "http://127.0.0.1:9999", TokenFile: tokenFile, PID: os.Getpid()})
	must(t, err)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("record %s: %v %v", path, fi.Mode(), err)
	}
	for _, tc := range []struct {
		name               string
		flags              clientFlags
		env                map[string]string
		wantServer, wantTk string
	}{
		{name: "record", wantServer: "http://127.0.0.1:9999", wantTk: "tok-from-file"},
		{name: "flag wins", flags: clientFlags{server: "http://other:1"}, wantServer: "http://other:1", wantTk: ""},
		{name: "env wins", env: map[string]string{"JETWAY_SERVER": "http://env:2", "JETWAY_TOKEN": "e"}, wantServer: "http://env:2", wantTk: "e"},
		{name: "same server by flag gets the record's token", flags: clientFlags{server: "http://127.0.0.1:9999/"}, wantServer: "http://127.0.0.1:9999", wantTk: "tok-from-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				env[k] = v
				defer delete(env, k)
			}
			cl := tc.flags.client(c)
			if cl.BaseURL != tc.wantServer || cl.Token != tc.wantTk {
				t.Errorf("got %q %q, want %q %q", cl.BaseURL, cl.Token, tc.wantServer, tc.wantTk)
			}
		})
	}

	remove()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("record not removed: %v", err)
	}
	// A stale record (its process gone) is ignored.
	_, _, err = writeServerRecord(run, serverRecord{URL: "http://127.0.0.1:9999", TokenFile: tokenFile, PID: 1 << 30})
	must(t, err)
	if cl := (&clientFlags{}).client(c); cl.BaseURL != DefaultServer {
		t.Errorf("stale record used: %q", cl.BaseURL)
	}
}

func TestRemoveKeepsAnotherServersRecord(t *testing.T) {
	run := t.TempDir()
	path, remove, err := writeServerRecord(run, serverRecord{URL: "http://a", PID: os.Getpid()})
	must(t, err)
	_, _, err = writeServerRecord(run, serverRecord{URL: "http://b", PID: os.Getppid()})
	must(t, err)
	remove()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the other server's record went: %v", err)
	}
}
