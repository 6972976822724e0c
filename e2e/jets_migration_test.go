package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"golang.org/x/sys/unix"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/testbed"
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
		if runs := s.jetsRunsOf(t, "jets-ignore"); len(runs) != 0 {
			t.Fatalf("--dry-run started %d runs", len(runs))
		}

		code, out, errOut = s.jetway(t, ctx, dir, "deploy")
		if code != 0 {
			t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
		}
		got := jetsLines(out, "BEGIN\n", "END\n")
		if !slices.Equal(got, want) {
			t.Fatalf("the workspace holds %q, want %q\n%s", got, want, out)
		}
	})

	const token = "hook-secret-0f9e8d7c6b5a"
	s.putParam(t, "/jets/API_TOKEN", "SecureString", token)
	s.putParam(t, "/jets/DOCKER_PASS", "SecureString", b.RegistryPass)

	t.Run("hooks and release", func(t *testing.T) {
		dir := t.TempDir()
		hook := func(name string) string {
			return "#!/bin/sh\necho \"hook " + name + " token=$API_TOKEN run=$JETWAY_RUN_ID\"\n"
		}
		writeFiles(t, dir, map[string]string{
			"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo built-into-the-image > /image-only\n", testbed.BaseImage),
			"jetway.yaml": fmt.Sprintf(`project: jets-hooks
env:
  vars:
    DOCKER_HOST: unix://%s
    DOCKER_USER: %s
    DOCKER_PASS: SSM:/jets/DOCKER_PASS
    DOCKER_REGISTRY: %s
    API_TOKEN: SSM:/jets/API_TOKEN
    DATABASE_URL: postgres://app@db.internal/app
    NOT_FOR_RELEASE: visible-to-phases
image:
  name: %s/jets-hooks
  push: true
  builder: classic              # the bed's local daemon has no bridge for BuildKit's RUN
hooks:
  before_build: ["echo yaml before_build"]
  after_release: ["echo yaml after_release"]
release:
  command: sh -c 'cat /image-only; echo "release db=$DATABASE_URL token=$API_TOKEN other=[$NOT_FOR_RELEASE]"; test ! -e /jetway.yaml'
  env: [DATABASE_URL, API_TOKEN]
phases:
  install: ["echo install"]
  post_build: ['echo "post_build release=$JETWAY_RELEASE_STATUS"']
`, b.LocalSocket, b.RegistryUser, b.Registry, b.Registry),
			".jetway/hooks/before_build":   hook("before_build"),
			".jetway/hooks/after_build":    hook("after_build"),
			".jetway/hooks/before_release": hook("before_release"),
			"scripts/after_release.sh":     hook("after_release"),
		})
		for _, f := range []string{".jetway/hooks/before_build", ".jetway/hooks/after_build", ".jetway/hooks/before_release", "scripts/after_release.sh"} {
			if err := os.Chmod(filepath.Join(dir, f), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// A link that stays in the workspace is a hook like a file.
		if err := os.Symlink("../../scripts/after_release.sh", filepath.Join(dir, ".jetway/hooks/after_release")); err != nil {
			t.Fatal(err)
		}

		code, out, errOut := s.jetway(t, ctx, dir, "deploy")
		if code != 0 {
			t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
		}
		id := uploadedRE.FindStringSubmatch(errOut)[1]
		jetsInOrder(t, out,
			"==> install", "==> before_build", "hook before_build token=[MASKED] run="+id, "yaml before_build",
			"==> build", "==> after_build", "hook after_build token=[MASKED]",
			"==> before_release", "hook before_release token=[MASKED]",
			"==> release", "$ docker run --rm "+b.Registry+"/jets-hooks@sha256:", "(with DATABASE_URL, API_TOKEN)",
			"built-into-the-image", "release db=postgres://app@db.internal/app token=[MASKED] other=[]", "<== release succeeded",
			"==> after_release", "hook after_release token=[MASKED]", "yaml after_release",
			"==> post_build", "post_build release=succeeded",
		)
		if strings.Contains(out+errOut, token) {
			t.Fatalf("the secret shows in the output:\n%s", out)
		}
		r := s.run(t, id)
		var phases []string
		for _, p := range r.Summary.Phases {
			phases = append(phases, p.Name+"="+p.Status)
		}
		wantPhases := []string{"install=succeeded", "before_build=succeeded", "build=succeeded", "after_build=succeeded", "before_release=succeeded", "release=succeeded", "after_release=succeeded", "post_build=succeeded"}
		if !slices.Equal(phases, wantPhases) {
			t.Fatalf("summary phases %q, want %q", phases, wantPhases)
		}
		// The dashboard draws the phases it finds in the summary, hooks and
		// release included.
		page := jetsDashboardPage(t, s, "/runs/"+id)
		jetsInOrder(t, page, ">before_build<", ">build<", ">after_build<", ">before_release<", ">release<", ">after_release<", ">post_build<")

		// A failing before_release stops the release; post_build still runs.
		writeFiles(t, dir, map[string]string{".jetway/hooks/before_release": "#!/bin/sh\necho refusing; exit 7\n"})
		code, out, _ = s.jetway(t, ctx, dir, "deploy")
		if code != 1 || strings.Contains(out, "==> release\n") || strings.Contains(out, "release db=") || !strings.Contains(out, "post_build release=skipped") {
			t.Fatalf("a failing before_release: exit %d\n%s", code, out)
		}
		jetsInOrder(t, out, "refusing", "<== before_release failed", "==> post_build")

		// A failing release fails the run, and post_build knows.
		writeFiles(t, dir, map[string]string{".jetway/hooks/before_release": hook("before_release")})
		yaml, _ := os.ReadFile(filepath.Join(dir, "jetway.yaml"))
		writeFiles(t, dir, map[string]string{"jetway.yaml": strings.Replace(string(yaml), "test ! -e /jetway.yaml", "exit 3", 1)})
		code, out, errOut = s.jetway(t, ctx, dir, "deploy")
		if code != 1 || !strings.Contains(out, "post_build release=failed") || strings.Contains(out, "==> after_release") || !strings.Contains(out+errOut, "exited with status 3") {
			t.Fatalf("a failing release: exit %d\n%s\n%s", code, out, errOut)
		}

		// A failed build runs no release at all.
		writeFiles(t, dir, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo built-into-the-image > /image-only; exit 5\n", testbed.BaseImage)})
		code, out, _ = s.jetway(t, ctx, dir, "deploy")
		if code != 1 || strings.Contains(out, "==> release\n") || strings.Contains(out, "release db=") || strings.Contains(out, "==> after_build") || !strings.Contains(out, "post_build release=skipped") {
			t.Fatalf("a failed build: exit %d\n%s", code, out)
		}
		if left := jetsContainers(t, b.LocalSocket, "jetway.phase=release"); len(left) > 0 {
			t.Fatalf("release containers left: %v", left)
		}
	})

	t.Run("stop without an id", func(t *testing.T) {
		// The run is in its release phase: stopping it removes the
		// release container too.
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo image > /image-only\n", testbed.BaseImage),
			"jetway.yaml": fmt.Sprintf(`project: jets-stop
env:
  vars:
    DOCKER_HOST: unix://%s
image:
  name: jets-stop
  builder: classic
release:
  command: sh -c 'echo release-started; sleep 300'
`, b.LocalSocket),
		})
		code, out, errOut := s.jetway(t, ctx, dir, "deploy", "--detach")
		if code != 0 {
			t.Fatalf("deploy: exit %d %s", code, errOut)
		}
		id := strings.TrimSpace(out)
		waitLog(t, s, id, "release-started")
		if left := jetsContainers(t, b.LocalSocket, "jetway.run="+id); len(left) != 1 {
			t.Fatalf("release containers of the run: %v", left)
		}

		// No terminal and no -y: refused, saying to pass -y.
		code, _, errOut = s.jetway(t, ctx, dir, "stop")
		if code != 2 || !strings.Contains(errOut, "would cancel run "+id+" of jets-stop (running") || !strings.Contains(errOut, "pass -y") {
			t.Fatalf("stop without a terminal: exit %d %s", code, errOut)
		}
		// On a terminal it asks; "n" leaves the run alone.
		code, errOut = jetsStopOnTerminal(t, s, dir, "n\n")
		if code != 1 || !strings.Contains(errOut, "Cancel run "+id+" of jets-stop") || !strings.Contains(errOut, "not cancelled") {
			t.Fatalf("stop answered n: exit %d %s", code, errOut)
		}
		if r := s.run(t, id); r.Status != api.StatusRunning {
			t.Fatalf("after answering n the run is %s", r.Status)
		}
		code, errOut = jetsStopOnTerminal(t, s, dir, "y\n")
		if code != 0 {
			t.Fatalf("stop answered y: exit %d %s", code, errOut)
		}
		if r := s.waitFinished(t, []string{id}, time.Minute)[0]; r.Status != api.StatusCancelled {
			t.Fatalf("the stopped run: %+v", r)
		}
		if left := jetsContainers(t, b.LocalSocket, "jetway.run="+id); len(left) != 0 {
			t.Fatalf("the cancelled run left its release container: %v", left)
		}
		// Nothing active any more; -y does not ask.
		code, _, errOut = s.jetway(t, ctx, dir, "stop", "-y")
		if code != 1 || !strings.Contains(errOut, "project jets-stop has no queued or running run") {
			t.Fatalf("stop -y with nothing to stop: exit %d %s", code, errOut)
		}
	})

	t.Run("hook files that cannot run", func(t *testing.T) {
		tests := []struct {
			name  string
			plant func(dir string) error
			want  string
		}{
			{"link out of the workspace", func(dir string) error {
				return os.Symlink("/bin/true", filepath.Join(dir, ".jetway/hooks/before_build"))
			}, `hook .jetway/hooks/before_build is a symbolic link to "/bin/true", which is not a file of the workspace`},
			{"not executable", func(dir string) error {
				return os.WriteFile(filepath.Join(dir, ".jetway/hooks/before_build"), []byte("#!/bin/sh\necho ran\n"), 0o644)
			}, "hook .jetway/hooks/before_build is not executable: make it so (chmod +x"},
			{"a directory", func(dir string) error {
				return os.Mkdir(filepath.Join(dir, ".jetway/hooks/before_build"), 0o755)
			}, "hook .jetway/hooks/before_build is not a regular file"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dir := localProject(t, b, fmt.Sprintf("jets-badhook-%d", i), "echo build ran", "")
				if err := os.MkdirAll(filepath.Join(dir, ".jetway/hooks"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := tt.plant(dir); err != nil {
					t.Fatal(err)
				}
				code, out, errOut := s.jetway(t, ctx, dir, "deploy")
				if code != 1 || !strings.Contains(out, tt.want) || !strings.Contains(out, "<== before_build failed") || strings.Contains(out, "build ran") || strings.Contains(out, "\nran\n") {
					t.Fatalf("exit %d, want a failed before_build saying %q:\n%s\n%s", code, tt.want, out, errOut)
				}
			})
		}
	})
}

// jetsStopOnTerminal runs `jetway stop` in dir with a terminal (a pty) as
// its input, holding answer.
func jetsStopOnTerminal(t *testing.T, s *serverProc, dir, answer string) (int, string) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	if _, err := ptmx.WriteString(answer); err != nil {
		t.Fatal(err)
	}
	cmd := execJetway(t, s, dir, "stop")
	var stderr strings.Builder
	cmd.Stdin, cmd.Stderr = pts, &stderr
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// jetsInOrder fails unless every want appears in s, each after the one before.
func jetsInOrder(t *testing.T, s string, want ...string) {
	t.Helper()
	rest := s
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("%q missing (or out of order) in:\n%s", w, s)
		}
		rest = rest[i+len(w):]
	}
}

// jetsDashboardPage signs in to the dashboard of s, as a browser's form
// would, and returns the page at path.
func jetsDashboardPage(t *testing.T, s *serverProc, path string) string {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.PostForm(s.URL+"/login", url.Values{"token": {strings.TrimSpace(string(token))}, "next": {path}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != path {
		t.Fatalf("dashboard %s: %s at %s\n%s", path, resp.Status, resp.Request.URL, body)
	}
	return string(body)
}

// jetsContainers lists the containers (running or not) with a label on a
// daemon of the bed.
func jetsContainers(t *testing.T, socket, label string) []string {
	t.Helper()
	c, err := testbed.LocalClient(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ct := range list {
		ids = append(ids, ct.ID[:12]+" "+ct.State)
	}
	return ids
}

// jetsLines returns the lines of s between the markers.
func jetsLines(s, begin, end string) []string {
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

// jetsRunsOf lists a project's runs.
func (s *serverProc) jetsRunsOf(t *testing.T, project string) []api.Run {
	t.Helper()
	var runs []api.Run
	if err := s.client(t).Do(context.Background(), http.MethodGet, "/v1/runs", url.Values{"project": {project}}, nil, &runs); err != nil {
		t.Fatal(err)
	}
	return runs
}
