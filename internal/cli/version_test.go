package cli

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuildVersion(t *testing.T) {
	rev := "9ac8ade0c0ffee0c0ffee0c0ffee0c0ffee0c0ff"
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want buildVersion
	}{
		{"clean checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}},
			true, buildVersion{Version: "v1.2.0", Commit: rev, GoVersion: "go1.26.8"}},
		{"modified tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: rev}}},
			true, buildVersion{Version: "(devel)", Commit: rev + "-dirty", GoVersion: "go1.26.8"}},
		{"built without VCS", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			true, buildVersion{Version: "(devel)", Commit: "unknown", GoVersion: "go1.26.8"}},
		{"no build information", nil, false, buildVersion{Version: "unknown", Commit: "unknown", GoVersion: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readBuildVersion(tt.info, tt.ok); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVersionCommand runs a built binary, whose build information, unlike
// a test binary's, holds the commit.
func TestVersionCommand(t *testing.T) {
	head := func() string {
		out, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err != nil {
			t.Fatalf("git rev-parse HEAD: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	before := head()
	bin := filepath.Join(t.TempDir(), "jetway")
	// -buildvcs=true: GOFLAGS may turn stamping off, as on machines where
	// git is not trusted with the checkout.
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "../../cmd/jetway").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	after := head()
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("jetway version: %v", err)
	}
	want := regexp.MustCompile(`^jetway \S+\ncommit ([0-9a-f]{40})(-dirty)?\n` + regexp.QuoteMeta(runtime.Version()) + `\n$`)
	m := want.FindSubmatch(out)
	if m == nil {
		t.Fatalf("jetway version printed %q", out)
	}
	// Others may commit while the binary builds; then either is right.
	if commit := string(m[1]); commit != before && commit != after {
		t.Fatalf("commit %s, want HEAD %s", commit, after)
	}
	flag, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("jetway --version: %v", err)
	}
	if string(flag) != string(out) {
		t.Fatalf("jetway --version printed %q, jetway version %q", flag, out)
	}

	code, stdout, stderr := runJetway(t, map[string]string{"HOME": t.TempDir()}, "version", "--json")
	var v buildVersion
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v.GoVersion != runtime.Version() || v.Commit == "" {
		t.Fatalf("version --json: exit %d, %q %s (%v)", code, stdout, stderr, err)
	}
}
