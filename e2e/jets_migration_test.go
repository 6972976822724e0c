package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

// TestJetsMigration: what users moving from the Jets remote runner look
// for, through a real server, its runners and the test bed. The subtests
// share one server.
func TestJetsMigration(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 2)
	ctx := context.Background()

	t.Run("ignore files", func(t *testing.T) {
		dir := localProject(t, b, "jets-ignore", `echo BEGIN; find . \( -type f -o -type l \) | sed 's|^\./||' | sort; echo END`, "")
		if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
			t.Fatalf("git init: %v %s", err, out)
		}
		writeFiles(t, dir, map[string]string{
			".gitignore":                   "node_modules/\n.env*\nlog/\ntmp/\nconfig/env\n",
			".git/info/exclude":            "*.bak\n",
			".jetwayignore":                "!config/env\nsecret.txt\n",
			"app.rb":                       "puts 'hi'\n",
			"notes.bak":                    "left out by .git/info/exclude\n",
			"secret.txt":                   "left out by .jetwayignore\n",
			".env":                         "SECRET=1\n",
			".env.production":              "SECRET=2\n",
			"node_modules/left-pad/pad.js": "module.exports = 1\n",
			"log/development.log":          "x\n",
			"tmp/cache/bootsnap":           "x\n",
			"config/env":                   "GENERATED=1\n",
			"config/app.yml":               "a: 1\n",
			"web/.gitignore":               "dist/\n*.map\n",
			"web/dist/app.js":              "x\n",
			"web/src/app.js":               "x\n",
			"web/src/app.js.map":           "x\n",
		})
		want := []string{".gitignore", ".jetwayignore", "app.rb", "config/app.yml", "config/env", "jetway.yaml", "web/.gitignore", "web/src/app.js"}

		code, out, errOut := s.jetway(t, ctx, dir, "deploy", "--dry-run")
		if code != 0 {
			t.Fatalf("deploy --dry-run: exit %d\n%s", code, errOut)
		}
		var listed []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) == 3 && !strings.Contains(line, "nothing uploaded") {
				listed = append(listed, f[2])
			}
		}
		slices.Sort(listed)
		if !slices.Equal(listed, want) || !strings.Contains(out, "8 files") || !strings.Contains(out, "nothing uploaded") {
			t.Fatalf("deploy --dry-run lists %q, want %q:\n%s", listed, want, out)
		}
		if runs := s.runsOf(t, "jets-ignore"); len(runs) != 0 {
			t.Fatalf("--dry-run started %d runs", len(runs))
		}

		code, out, errOut = s.jetway(t, ctx, dir, "deploy")
		if code != 0 {
			t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
		}
		got := between(out, "BEGIN\n", "END\n")
		if !slices.Equal(got, want) {
			t.Fatalf("the workspace holds %q, want %q\n%s", got, want, out)
		}
	})
}

// between returns the lines of s between the markers.
func between(s, begin, end string) []string {
	i := strings.Index(s, begin)
	if i < 0 {
		return nil
	}
	s = s[i+len(begin):]
	if j := strings.Index(s, end); j >= 0 {
		s = s[:j]
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// runsOf lists a project's runs.
func (s *serverProc) runsOf(t *testing.T, project string) []api.Run {
	t.Helper()
	var runs []api.Run
	if err := s.client(t).Do(context.Background(), http.MethodGet, "/v1/runs", url.Values{"project": {project}}, nil, &runs); err != nil {
		t.Fatal(err)
	}
	return runs
}
