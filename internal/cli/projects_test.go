//go:build linux

package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// TestProjectsCommands sets, shows, lists and resets a project's settings
// on a real server: flags not given keep their value, and what the server
// would refuse is refused before, in the CLI's words.
func TestProjectsCommands(t *testing.T) {
	env := serverEnv(t)
	if code, out, errOut := runJetway(t, env, "projects", "ls"); code != 0 || !strings.Contains(out, "no project has settings") {
		t.Fatalf("ls with none: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runJetway(t, env, "projects", "show", "web"); code != 0 || !regexpMatch(`(?m)^docker policy +strict \(default\)$`, out) || !regexpMatch(`(?m)^updated +never$`, out) {
		t.Fatalf("show without settings: %d\n%s%s", code, out, errOut)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"projects", "set", "web"}, "give --docker LIST or --expose-docker-credentials"},
		{[]string{"projects", "set", "web", "--docker", "privileged,rootfs"}, `--docker: unknown Docker allowance "rootfs"; the allowances are privileged, host-mounts, host-namespaces, devices, capabilities, unconfined, build-entitlements (or none)`},
		{[]string{"projects", "set", "web", "--docker", "none,privileged"}, `unknown Docker allowance "none"`},
		{[]string{"projects", "set", "My_App", "--docker", "privileged"}, `project name "My_App": use lower-case letters, digits and - only`},
		{[]string{"projects", "show"}, "jetway projects show takes NAME (got 0 arguments)"},
		{[]string{"projects", "reset", "a.b"}, `project name "a.b"`},
	} {
		code, out, errOut := runJetway(t, env, bad.args...)
		if code != ExitUsage || !strings.Contains(errOut, bad.want) || out != "" {
			t.Errorf("%q: %d %q %s, want exit %d saying %q", bad.args, code, out, errOut, ExitUsage, bad.want)
		}
	}
	steps := []struct {
		args   []string
		policy string
	}{
		{[]string{"--docker", "host-mounts, privileged,host-mounts"}, "allows privileged, host-mounts"},
		{[]string{"--expose-docker-credentials"}, "allows privileged, host-mounts; phases hold the Docker host's credentials"},
		{[]string{"--docker", "none"}, "phases hold the Docker host's credentials"},
		{[]string{"--docker", "devices"}, "allows devices; phases hold the Docker host's credentials"},
		{[]string{"--expose-docker-credentials=false"}, "allows devices"},
		{[]string{"--docker", ""}, "strict (default)"},
	}
	for _, step := range steps {
		code, out, errOut := runJetway(t, env, append([]string{"projects", "set", "web"}, step.args...)...)
		if code != 0 || !strings.Contains(out, "docker policy  "+step.policy+"\n") {
			t.Fatalf("set %q: %d\n%s%s\nwant docker policy %q", step.args, code, out, errOut, step.policy)
		}
		// What set printed is what the server keeps.
		if _, shown, _ := runJetway(t, env, "projects", "show", "web"); !strings.Contains(shown, "docker policy  "+step.policy+"\n") {
			t.Fatalf("show after set %q:\n%s", step.args, shown)
		}
	}
	code, out, errOut := runJetway(t, env, "projects", "set", "web", "--docker", "privileged,devices", "--expose-docker-credentials")
	if code != 0 || !strings.Contains(out, "privileged  --privileged containers: root on the Docker host") || !strings.Contains(out, "can reach the host without the guard") || strings.Contains(out, "no longer allowed") {
		t.Fatalf("set both: %d\n%s%s", code, out, errOut)
	}
	// --docker replaces the list, and says what it took away.
	code, out, errOut = runJetway(t, env, "projects", "set", "web", "--docker", "privileged")
	if code != 0 || !strings.Contains(out, "no longer allowed: devices (--docker replaces the list") {
		t.Fatalf("set fewer: %d\n%s%s", code, out, errOut)
	}
	runJetway(t, env, "projects", "set", "api", "--docker", "capabilities")
	code, out, _ = runJetway(t, env, "projects", "ls")
	if code != 0 || !regexpMatch(`(?m)^api +capabilities +no +`, out) || !regexpMatch(`(?m)^web +privileged +yes \(bypass the guard\) +`, out) || strings.Index(out, "api") > strings.Index(out, "web") {
		t.Fatalf("ls:\n%s", out)
	}
	var list []api.Project
	code, out, _ = runJetway(t, env, "projects", "ls", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[1].Name != "web" || !list[1].Docker.ExposeCredentials {
		t.Fatalf("ls --json: %d %s", code, out)
	}
	var p api.Project
	code, out, _ = runJetway(t, env, "projects", "show", "web", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || !slices.Equal(p.Docker.Allow, []string{"privileged"}) || p.UpdatedAt.IsZero() {
		t.Fatalf("show --json: %d %s", code, out)
	}
	for range 2 { // a second reset changes nothing, and is no error
		if code, out, errOut := runJetway(t, env, "projects", "reset", "web"); code != 0 || !strings.Contains(out, "project web: back to the strict default") {
			t.Fatalf("reset: %d %s %s", code, out, errOut)
		}
	}
	if _, out, _ := runJetway(t, env, "projects", "show", "web"); !strings.Contains(out, "docker policy  strict (default)\n") {
		t.Fatalf("show after reset:\n%s", out)
	}
	// Without the API token the server refuses, and the CLI says which token.
	noToken := map[string]string{"HOME": t.TempDir(), "JETWAY_SERVER": env["JETWAY_SERVER"]}
	if code, _, errOut := runJetway(t, noToken, "projects", "set", "web", "--docker", "privileged"); code != ExitFailed || !strings.Contains(errOut, "refused the API token") {
		t.Fatalf("set without the token: %d %s", code, errOut)
	}
}

func TestParseAllowances(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"none", nil, ""},
		{" none ", nil, ""},
		{",", nil, ""},
		{"privileged", []string{"privileged"}, ""},
		{"build-entitlements, privileged,,privileged", []string{"privileged", "build-entitlements"}, ""},
		{"none,devices", nil, `unknown Docker allowance "none"`},
		{"privileged,all", nil, `--docker: unknown Docker allowance "all"; the allowances are privileged,`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAllowances(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q %v, want %q", got, err, tt.want)
			}
		})
	}
}

// Every allowance an operator can grant is explained in --help and show.
func TestEveryAllowanceIsExplained(t *testing.T) {
	if len(dockerAllowanceHelp) != len(api.DockerAllowances) {
		t.Errorf("%d allowances explained, %d exist", len(dockerAllowanceHelp), len(api.DockerAllowances))
	}
	help := newProjectsSetCommand(&CLI{}).Long
	for _, a := range api.DockerAllowances {
		if dockerAllowanceHelp[a] == "" || !strings.Contains(help, "  "+a+" ") {
			t.Errorf("allowance %s is not explained in jetway projects set --help", a)
		}
	}
}

func TestPrintProjects(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	projects := []api.Project{
		{Name: "api", Docker: api.DockerPolicy{Allow: []string{"devices", "capabilities"}}, UpdatedAt: now.Add(-3 * time.Hour)},
		{Name: "legacy-builder", Docker: api.DockerPolicy{Allow: []string{"privileged"}, ExposeCredentials: true}, UpdatedAt: now.Add(-9 * 24 * time.Hour)},
		{Name: "web", Docker: api.DockerPolicy{ExposeCredentials: true}, UpdatedAt: now.Add(-40 * time.Second)},
	}
	var out bytes.Buffer
	must(t, printProjects(&out, projects, now))
	golden := filepath.Join("testdata", "projects-ls.golden")
	if *update {
		must(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	must(t, err)
	if out.String() != string(want) {
		t.Errorf("got:\n%s\nwant (%s; -update rewrites it):\n%s", out.String(), golden, want)
	}
}

// jetway runs show says what the run was allowed on its Docker host, or
// why it says nothing.
func TestRunsShowDockerPolicy(t *testing.T) {
	tests := []struct {
		name string
		run  api.Run
		want string
	}{
		{"strict", api.Run{Status: api.StatusRunning, Docker: &api.DockerPolicy{}}, "strict (default)"},
		{"relaxed", api.Run{Status: api.StatusSucceeded, Docker: &api.DockerPolicy{Allow: []string{"host-mounts"}, ExposeCredentials: true}},
			"allows host-mounts; phases hold the Docker host's credentials"},
		{"not started", api.Run{Project: "web", Status: api.StatusQueued}, "not given yet: its runner gets its project's settings when it starts (jetway projects show web)"},
		{"ended without", api.Run{Status: api.StatusCancelled}, "none recorded ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			printRun(&CLI{Streams: Streams{Out: &out}}, tt.run)
			if !regexpMatch(`(?m)^docker policy +`+regexp.QuoteMeta(tt.want), out.String()) {
				t.Fatalf("got:\n%s\nwant a line docker policy %q", out.String(), tt.want)
			}
		})
	}
}
