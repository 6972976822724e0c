package build

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The context must not depend on who owns the files (each run has its own
// user), or the builder's cache keys change from run to run.
func TestContextIsOwnedByRootAndHonoursDockerignore(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"Dockerfile":    "FROM scratch\n",
		".dockerignore": "secret.txt\nDockerfile\n",
		"app.txt":       "app\n",
		"secret.txt":    "no\n",
		"sub/lib.txt":   "lib\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Chown(p, 4321, 4321); err != nil {
				t.Fatal(err)
			}
		}
	}
	rc, err := Context(dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is owned by %d:%d in the context", h.Name, h.Uid, h.Gid)
		}
	}
	sort.Strings(names)
	got := strings.Join(names, " ")
	if strings.Contains(got, "secret.txt") || !strings.Contains(got, "Dockerfile") || !strings.Contains(got, "sub/lib.txt") {
		t.Fatalf("context holds %s", got)
	}
}
