package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// The control-plane side of the "Run isolation" issue: what a server's run
// may use and see, through the real server, CLI and runners.

// A server started without --allow-local-docker refuses a run whose
// DOCKER_HOST is the machine's own daemon, and says what to do instead.
func TestServerRefusesTheLocalDockerDaemon(t *testing.T) {
	b := bed.Get(t)
	s := startServerWith(t, t.TempDir(), freePort(t), 1)
	dir := localProject(t, b, "local-refused", "echo phase-ran", "")
	code, out, errOut := s.jetway(t, context.Background(), dir, "deploy")
	all := out + errOut
	if code == 0 || strings.Contains(all, "phase-ran") {
		t.Fatalf("a run on the local daemon was not refused (exit %d):\n%s", code, all)
	}
	for _, want := range []string{"--allow-local-docker", "remote Docker host"} {
		if !strings.Contains(all, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, all)
		}
	}
}

// The deployer's environment holds its API token and AWS keys; with
// env.pass: ["*"] none of them reaches a phase, and the server's own
// output never shows the API token.
func TestNoTokenReachesAPhaseOrTheServerOutput(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(token))
	dir := localProject(t, b, "pass-all", "env", "")
	writeFiles(t, dir, map[string]string{"jetway.yaml": strings.Replace(readFile(t, filepath.Join(dir, "jetway.yaml")), "env:\n", "env:\n  pass: [\"*\"]\n", 1)})
	cmd := exec.Command(jetwayBinary(t), "deploy")
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + s.Home, "PATH=" + os.Getenv("PATH"), "JETWAY_SERVER=" + s.URL, "JETWAY_TOKEN=" + tok,
		"AWS_SECRET_ACCESS_KEY=aws-deployer-secret", "MY_API_TOKEN=my-deployer-token", "PASSED_PLAIN=visible"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "PASSED_PLAIN=visible") {
		t.Fatalf("env.pass passed nothing:\n%s", out.String())
	}
	for _, secret := range []string{tok, "aws-deployer-secret", "my-deployer-token"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("%q reached the phase:\n%s", secret, out.String())
		}
	}
	if strings.Contains(s.log.String(), tok) {
		t.Errorf("the server's output shows the API token:\n%s", s.log.String())
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A hand-made API request carrying the deployer's tokens in Pass gets
// them neither stored with the run nor handed to a phase.
func TestServerFiltersPassedVariables(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	ctx := context.Background()
	c := s.client(t)
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("project: hand-made\nenv:\n  pass: [\"*\"]\n  vars:\n    DOCKER_HOST: unix://%s\nphases:\n  build: [env]\n", b.LocalSocket)
	var run api.Run
	req := api.NewRunRequest{ProjectFile: project, Bundle: bundle.ID,
		Pass: map[string]string{"JETWAY_TOKEN": "jw_hand-made-token", "AWS_SECRET_ACCESS_KEY": "aws-hand-made-secret", "PLAIN": "visible"}}
	if err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, req, &run); err != nil {
		t.Fatal(err)
	}
	if r := s.waitFinished(t, []string{run.ID}, time.Minute)[0]; r.Status != api.StatusSucceeded {
		t.Fatalf("%+v\n%s", r, s.storedLog(t, run.ID))
	}
	log := s.storedLog(t, run.ID)
	if !strings.Contains(log, "PLAIN=visible") {
		t.Fatalf("nothing passed:\n%s", log)
	}
	db, err := os.ReadFile(filepath.Join(s.DataDir, "jetway.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(s.DataDir, "jetway.db-wal"))
	db = append(db, wal...)
	for _, secret := range []string{"jw_hand-made-token", "aws-hand-made-secret"} {
		if strings.Contains(log, secret) || bytes.Contains(db, []byte(secret)) {
			t.Errorf("%q was stored or reached the phase", secret)
		}
	}
}

// A deployer's .git/config runs commands when git reads the checkout
// (core.fsmonitor): the server's runner never runs git on a bundle as
// root, and takes the commit from the client's facts.
func TestGitConfigOfABundleNeverRunsAsRoot(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	dir := localProject(t, b, "git-config", "echo built", "")
	marker := filepath.Join(os.TempDir(), fmt.Sprintf("jetway-fsmonitor-%d", os.Getpid()))
	defer os.Remove(marker)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "init")
	sha := git("rev-parse", "HEAD")
	git("config", "core.fsmonitor", "id > "+marker+"; false")
	// The deployer's own git ignores the hook; the bundle carries it.
	cmd := exec.Command(jetwayBinary(t), "deploy")
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + s.Home, "PATH=" + os.Getenv("PATH"), "JETWAY_SERVER=" + s.URL,
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.fsmonitor", "GIT_CONFIG_VALUE_0=false"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if data, err := os.ReadFile(marker); err == nil {
		t.Fatalf("the bundle's core.fsmonitor ran on the server: %s", data)
	}
	var runs []api.Run
	if err := s.client(t).Do(context.Background(), http.MethodGet, "/v1/runs", url.Values{"project": {"git-config"}}, nil, &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Summary == nil || runs[0].Summary.Git.SHA != sha {
		t.Fatalf("the run does not record the client's commit %s: %+v", sha, runs)
	}
}
