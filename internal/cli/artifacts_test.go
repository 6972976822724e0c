package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

// hostileServer lists the artifacts given and answers every download
// with content: a server the real one cannot be (it refuses such names),
// standing for one that was tampered with.
func hostileServer(t *testing.T, list []api.Artifact, content string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/artifacts") {
			_ = json.NewEncoder(w).Encode(list)
			return
		}
		_, _ = w.Write([]byte(content))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The attack first: artifact names that leave the directory, and a link
// planted in it, never get a byte written outside it.
func TestArtifactsDownloadStaysInItsDirectory(t *testing.T) {
	sum := sha256.Sum256([]byte("pwned"))
	hash := hex.EncodeToString(sum[:])
	outside := t.TempDir()
	for _, name := range []string{"../escaped", "/tmp/escaped", "a/../../escaped", filepath.Join(outside, "escaped")} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			url := hostileServer(t, []api.Artifact{{Name: "fine.txt", Size: 5, SHA256: hash}, {Name: name, Size: 5, SHA256: hash}}, "pwned")
			code, _, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "runs", "artifacts", "r1", "-o", dir, "--server", url, "--token", "x")
			if code != ExitFailed || !strings.Contains(errOut, "refused") {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Fatalf("%s was made although a name was refused", dir)
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("written outside: %v", entries)
	}
	// A link in the directory where an artifact goes is not written through.
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "reports")); err != nil {
		t.Fatal(err)
	}
	url := hostileServer(t, []api.Artifact{{Name: "reports/x.txt", Size: 5, SHA256: hash}}, "pwned")
	if code, _, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "runs", "artifacts", "r1", "-o", dir, "--server", url, "--token", "x"); code != ExitFailed {
		t.Fatalf("through a link: exit %d: %s", code, errOut)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("written through the link: %v", entries)
	}
	// Content that is not what the list says is not kept.
	url = hostileServer(t, []api.Artifact{{Name: "a.txt", Size: 5, SHA256: hash}}, "other")
	if code, _, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "runs", "artifacts", "r1", "-o", dir, "--server", url, "--token", "x"); code != ExitFailed || !strings.Contains(errOut, "does not match") {
		t.Fatalf("wrong content: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err == nil {
		t.Fatal("a wrong download took its name")
	}
}

func TestParseRunVars(t *testing.T) {
	vars, err := parseRunVars([]string{"A=1", "B=x=y", "C="})
	if err != nil || vars["A"] != "1" || vars["B"] != "x=y" || vars["C"] != "" || len(vars) != 3 {
		t.Fatalf("%v %v", vars, err)
	}
	if _, err := parseRunVars([]string{"A=1", "A=2"}); err == nil || !strings.Contains(err.Error(), "-e A: given twice") {
		t.Fatalf("twice: %v", err)
	}
	if _, err := parseRunVars([]string{"NOVALUE"}); err == nil || !strings.Contains(err.Error(), "write NAME=VALUE") {
		t.Fatalf("no =: %v", err)
	}
}
