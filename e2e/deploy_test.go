package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/testbed"
)

var uploadedRE = regexp.MustCompile(`run ([0-9a-f]{8}) queued \(project [^,]+, \d+ files of [^;]+; uploaded (\d+) bytes\)`)

// TestDeployTwice: two deploys through the server, a runner and the remote
// Docker host over ssh; the second reuses the cache and uploads only the
// changed file. Ignore files hold, and no secret value shows anywhere.
func TestDeployTwice(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 2)
	key, _ := os.ReadFile(b.ClientKey)
	known, _ := os.ReadFile(b.KnownHosts)
	s.putParam(t, "/e2e/JETS_SSH_KEY", "SecureString", string(key))
	s.putParam(t, "/e2e/JETS_SSH_KNOWN", "SecureString", string(known))
	s.putParam(t, "/e2e/DOCKER_PASS", "SecureString", b.RegistryPass)
	s.putParam(t, "/e2e/DOCKER_HOST", "String", b.DockerHostSSH())
	secrets := []string{b.RegistryPass}
	for _, line := range strings.Split(string(key), "\n") {
		if len(line) >= 8 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}

	dir := t.TempDir()
	blob := make([]byte, 2<<20)
	_, _ = rand.Read(blob)
	writeFiles(t, dir, map[string]string{
		"data.bin":           string(blob),
		"app.sh":             "echo one\n",
		"docker-ignored.txt": "not in the image context\n",
		"jetway-ignored.txt": "not in the bundle\n",
		".dockerignore":      "docker-ignored.txt\n",
		".jetwayignore":      "jetway-ignored.txt\n",
		"Dockerfile": fmt.Sprintf(`FROM %s
RUN for i in 1 2 3; do head -c 2000000 /dev/urandom | gzip -1 | sha256sum; done > /deps.lock
COPY . /ctx
RUN test ! -e /ctx/docker-ignored.txt && test -e /ctx/data.bin
`, testbed.BaseImage),
		"jetway.yaml": fmt.Sprintf(`project: e2e-cache
ssm_env: e2e
env:
  vars:
    DOCKER_HOST: SSM:/#{ssm_env}/DOCKER_HOST
    JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN
    DOCKER_USER: %s
    DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
    DOCKER_REGISTRY: %s
image:
  name: %s/e2e-cache
  push: true
phases:
  pre_build:
    - test ! -e jetway-ignored.txt && test -e docker-ignored.txt
    - echo "pass=$DOCKER_PASS key=$(test -e ~/.ssh/id_rsa && echo present || echo kept-by-the-runner)"
  post_build:
    - docker image ls --format '{{.Repository}}' %s
`, b.RegistryUser, b.Registry, b.Registry, b.RemoteMarker),
	})
	ctx := context.Background()
	code, out1, err1 := s.jetway(t, ctx, dir, "deploy")
	if code != 0 {
		t.Fatalf("first deploy: exit %d\n%s\n%s\nserver:\n%s", code, out1, err1, s.log.String())
	}
	m := uploadedRE.FindStringSubmatch(err1)
	if m == nil {
		t.Fatalf("no upload line in %q", err1)
	}
	first := m[1]
	if !strings.Contains(out1, b.RemoteMarker) || !strings.Contains(out1, "pass=[MASKED] key=kept-by-the-runner") {
		t.Fatalf("first deploy's log:\n%s", out1)
	}

	writeFiles(t, dir, map[string]string{"app.sh": "echo two\n"})
	code, out2, err2 := s.jetway(t, ctx, dir, "deploy")
	if code != 0 {
		t.Fatalf("second deploy: exit %d\n%s\n%s", code, out2, err2)
	}
	m = uploadedRE.FindStringSubmatch(err2)
	if m == nil {
		t.Fatalf("no upload line in %q", err2)
	}
	second := m[1]
	sent, _ := strconv.Atoi(m[2])
	if sent == 0 || sent > 200 { // one small file, zstd-compressed
		t.Fatalf("the second deploy uploaded %d bytes; want only the changed file's content", sent)
	}

	r1, r2 := s.run(t, first), s.run(t, second)
	depCached := func(r api.Run) bool {
		for _, st := range r.Summary.Build.Steps {
			if strings.HasPrefix(st.Instruction, "RUN for i") {
				return st.Cached
			}
		}
		t.Fatalf("run %s has no dependency step: %+v", r.ID, r.Summary.Build)
		return false
	}
	if depCached(r1) || !depCached(r2) {
		t.Fatalf("dependency step cached: first %v, second %v", depCached(r1), depCached(r2))
	}
	if r2.Summary.Digest == "" || r2.Status != api.StatusSucceeded || r2.StartedBy == "" {
		t.Fatalf("second run record: %+v", r2)
	}

	code, show, _ := s.jetway(t, ctx, dir, "runs", "show", second)
	if code != 0 || !strings.Contains(show, r2.Summary.Digest) || !strings.Contains(show, "cached") || !strings.Contains(show, "RUN for i") {
		t.Fatalf("runs show:\n%s", show)
	}

	// No secret value in the client's output, the API's answers or any
	// file of the data dir.
	var apiText strings.Builder
	apiText.WriteString(out1 + err1 + out2 + err2)
	for _, path := range []string{"/v1/runs", "/v1/runs/" + first, "/v1/runs/" + second, "/v1/runs/" + first + "/logs", "/v1/params"} {
		resp, err := s.client(t).Stream(ctx, http.MethodGet, path, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		apiText.Write(data)
	}
	for _, sec := range secrets {
		if strings.Contains(apiText.String(), sec) {
			t.Errorf("a secret value shows in the output or an API answer: %q", sec)
		}
	}
	_ = filepath.WalkDir(s.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			if strings.Contains(string(data), sec) {
				t.Errorf("%s holds a secret value", path)
			}
		}
		return nil
	})
}

// localProject is a project with no image and no references, on the bed's
// local dockerd: the cheapest real run.
func localProject(t *testing.T, b *testbed.Bed, name, phase string, extra string) string {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"jetway.yaml": fmt.Sprintf(`project: %s
env:
  vars:
    DOCKER_HOST: unix://%s
phases:
  build: [%q]
%s`, name, b.LocalSocket, phase, extra)})
	return dir
}

// TestManyDeploys queues 20 runs across 3 projects at once.
func TestManyDeploys(t *testing.T) {
	b := bed.Get(t)
	const concurrency = 3
	s := startServer(t, t.TempDir(), freePort(t), concurrency)
	var dirs []string
	for i := range 3 {
		dirs = append(dirs, localProject(t, b, fmt.Sprintf("many-%d", i), "echo start; sleep 0.3; echo done", ""))
	}
	ctx := context.Background()
	ids := deployAll(t, ctx, 20, 20, func(i int) (*serverProc, string) { return s, dirs[i%3] })
	if len(ids) != 20 {
		t.Fatalf("%d runs started", len(ids))
	}
	runs := s.waitFinished(t, ids, 5*time.Minute)
	type span struct{ start, end time.Time }
	byProject := map[string][]span{}
	var all []span
	for _, r := range runs {
		if r.Status != api.StatusSucceeded || r.StartedAt == nil || r.FinishedAt == nil || r.Summary == nil {
			t.Fatalf("run %+v", r)
		}
		sp := span{*r.StartedAt, *r.FinishedAt}
		byProject[r.Project] = append(byProject[r.Project], sp)
		all = append(all, sp)
	}
	for project, spans := range byProject {
		for i := range spans {
			for j := range spans {
				if i != j && spans[i].start.Before(spans[j].end) && spans[j].start.Before(spans[i].end) {
					t.Errorf("two runs of %s overlapped", project)
				}
			}
		}
	}
	for _, a := range all {
		overlapping := 0
		for _, o := range all {
			if !o.start.After(a.start) && o.end.After(a.start) {
				overlapping++
			}
		}
		if overlapping > concurrency {
			t.Errorf("%d runs ran at once; the limit is %d", overlapping, concurrency)
		}
	}
	// jetway login saves server and token for a user with neither set.
	home := t.TempDir()
	token, _ := os.ReadFile(filepath.Join(s.DataDir, "token"))
	login := execJetway(t, s, "/", "login", "--server", s.URL, "--token", strings.TrimSpace(string(token)))
	login.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("login: %v %s", err, out)
	}
	if info, err := os.Stat(filepath.Join(home, ".config", "jetway", "login.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("login file: %v", err)
	}
	list := execJetway(t, s, "/", "runs", "--project", "many-1")
	list.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	if out, err := list.CombinedOutput(); err != nil || strings.Count(string(out), "many-1") != 7 {
		t.Fatalf("runs with the saved login: %v\n%s", err, out)
	}
	code, out, _ := s.jetway(t, ctx, dirs[0], "runs", "--project", "many-0", "--json")
	var listed []api.Run
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 7 {
		t.Fatalf("runs --project many-0: %d runs (exit %d)", len(listed), code)
	}
}

func waitLog(t *testing.T, s *serverProc, id, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		code, out, _ := s.jetway(t, context.Background(), "/", "logs", id)
		if code == 0 && strings.Contains(out, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("run %s never logged %q", id, want)
}

func TestStopTimeoutAndDetach(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 2)
	ctx := context.Background()

	slow := localProject(t, b, "stop-me", "echo started; sleep 300", "")
	code, out, _ := s.jetway(t, ctx, slow, "deploy", "--detach")
	if code != 0 {
		t.Fatal("deploy failed")
	}
	id := strings.TrimSpace(out)
	waitLog(t, s, id, "started")
	if code, _, errOut := s.jetway(t, ctx, slow, "stop", id); code != 0 {
		t.Fatalf("stop: %s", errOut)
	}
	if r := s.waitFinished(t, []string{id}, time.Minute)[0]; r.Status != api.StatusCancelled {
		t.Fatalf("stopped run: %+v", r)
	}
	if code, _, _ := s.jetway(t, ctx, slow, "logs", "-f", id); code != 130 {
		t.Fatalf("logs -f of a cancelled run: exit %d, want 130", code)
	}

	timed := localProject(t, b, "time-me", "echo started; sleep 300", "timeout: 2s\n")
	code, _, errOut := s.jetway(t, ctx, timed, "deploy")
	if code != 124 || !strings.Contains(errOut, "timed_out") {
		t.Fatalf("deploy of a run that times out: exit %d %s", code, errOut)
	}

	// Ctrl-C on deploy detaches; the run goes on and succeeds.
	short := localProject(t, b, "detach-me", "echo started; sleep 2; echo finished", "")
	cmd := execJetway(t, s, short, "deploy")
	var stderr strings.Builder
	stdout := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 600 && !strings.Contains(stdout.String(), "started"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if cmd.ProcessState.ExitCode() != 130 || !strings.Contains(stderr.String(), "jetway logs -f") || !strings.Contains(stderr.String(), "jetway stop") {
		t.Fatalf("Ctrl-C on deploy: exit %d\n%s", cmd.ProcessState.ExitCode(), stderr.String())
	}
	m := uploadedRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no run id in %q", stderr.String())
	}
	if r := s.waitFinished(t, []string{m[1]}, time.Minute)[0]; r.Status != api.StatusSucceeded {
		t.Fatalf("the detached run: %+v", r)
	}
	// A late follower sees the whole log.
	if code, out, _ := s.jetway(t, ctx, short, "logs", "-f", m[1]); code != 0 || !strings.Contains(out, "started") || !strings.Contains(out, "finished") {
		t.Fatalf("late follower: exit %d\n%s", code, out)
	}
}

// parentOf is a process's parent's pid (0 if it is gone).
func parentOf(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			ppid, _ := strconv.Atoi(strings.TrimSpace(v))
			return ppid
		}
	}
	return 0
}

// TestServerKilledMidRun: SIGKILL the server and the runner of a running
// run while another waits; after a restart the first is failed with its
// log kept, the queue goes on, and the new server removed what the dead
// runner left: its sandbox, its user and its processes.
func TestServerKilledMidRun(t *testing.T) {
	b := bed.Get(t)
	home, port := t.TempDir(), freePort(t)
	s := startServer(t, home, port, 1)
	ctx := context.Background()
	long := localProject(t, b, "killed", "echo started; sleep 300", "")
	short := localProject(t, b, "queued-behind", "echo resumed", "")
	_, out, _ := s.jetway(t, ctx, long, "deploy", "--detach")
	longID := strings.TrimSpace(out)
	waitLog(t, s, longID, "started")
	_, out, _ = s.jetway(t, ctx, short, "deploy", "--detach")
	shortID := strings.TrimSpace(out)
	if r := s.run(t, shortID); r.Status != api.StatusQueued {
		t.Fatalf("with concurrency 1 the second run should wait: %s", r.Status)
	}
	// A runner that cannot clean up: SIGKILL, before the server's death
	// could ask it to. The runner is the server's child with the run's id
	// in its environment (its phases have it too; the oldest pid is no
	// guide: pids wrap around at 32768 here).
	pids := runnerPids(longID)
	i := slices.IndexFunc(pids, func(pid int) bool { return parentOf(pid) == s.cmd.Process.Pid })
	if i < 0 {
		t.Fatal("no runner process for the run")
	}
	runner := pids[i]
	if err := syscall.Kill(runner, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(runner, 0) == nil { // until it is gone, and its lock with it
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
	left, _ := filepath.Glob(filepath.Join("/var/lib/jetway-runs", "run-"+longID+"-*"))
	if len(left) != 1 {
		t.Fatalf("the killed runner's sandbox should still be there before the restart: %v", left)
	}

	s2 := startServer(t, home, port, 1)
	if _, err := os.Stat(left[0]); !os.IsNotExist(err) {
		t.Fatalf("the restarted server did not remove the dead runner's sandbox %s: %v", left[0], err)
	}
	if passwd, _ := os.ReadFile("/etc/passwd"); strings.Contains(string(passwd), left[0]) {
		t.Fatalf("the dead runner's user remains")
	}
	if pids := testbed.ProcessesWith("sleep 300"); len(pids) > 0 {
		t.Fatalf("the dead run's processes remain: %v", pids)
	}
	r := s2.run(t, longID)
	if r.Status != api.StatusFailed || r.Reason != "server restarted" {
		t.Fatalf("the run that was running: %+v", r)
	}
	if code, out, _ := s2.jetway(t, ctx, long, "logs", longID); code != 0 || !strings.Contains(out, "started") {
		t.Fatalf("its log was lost: %q", out)
	}
	if r := s2.waitFinished(t, []string{shortID}, time.Minute)[0]; r.Status != api.StatusSucceeded {
		t.Fatalf("the queued run after the restart: %+v", r)
	}
}
