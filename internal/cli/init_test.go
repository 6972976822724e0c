package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/config"
)

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My App")
	must(t, os.MkdirAll(filepath.Join(dir, "docker"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "docker", "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", dir)
	if code != 0 || !strings.Contains(out, "jetway.yaml") {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatalf("the starter file does not load: %v", err)
	}
	if p.Project != "my-app" || p.Image == nil || p.Image.Dockerfile != "docker/Dockerfile" {
		t.Fatalf("starter project %+v %+v", p, p.Image)
	}
	data, _ := os.ReadFile(filepath.Join(dir, config.FileName))
	for _, want := range []string{"# DOCKER_HOST: ssh://", "# JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY", "# JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN", "ssh-keyscan -H -t rsa"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("starter file lacks %q", want)
		}
	}
	if code, _, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", dir); code != ExitFailed || !strings.Contains(errOut, "--force") {
		t.Fatalf("a second init: %d %s", code, errOut)
	}
	if code, _, _ := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", dir, "--force"); code != 0 {
		t.Fatal("init --force failed")
	}
	empty := t.TempDir()
	if code, _, _ := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", empty); code != 0 {
		t.Fatal("init without a Dockerfile failed")
	}
	if p, err := config.Load(filepath.Join(empty, config.FileName)); err != nil || p.Image != nil {
		t.Fatalf("without a Dockerfile: %+v %v", p, err)
	}
}
