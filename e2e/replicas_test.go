package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/pgtest"
)

var pg pgtest.Shared

// startReplicas starts two servers on one new PostgreSQL database, the
// second with the first's token and master key, as the README says.
func startReplicas(t *testing.T, concurrency int, flags ...string) (a, b *serverProc) {
	t.Helper()
	url := pg.DB(t)
	flags = append(flags, "--allow-local-docker", "--database", url)
	a = startServerWith(t, t.TempDir(), freePort(t), concurrency, flags...)
	homeB := t.TempDir()
	dataB := filepath.Join(homeB, ".local", "share", "jetway")
	if err := os.MkdirAll(dataB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"token", "master.key"} {
		data, err := os.ReadFile(filepath.Join(a.DataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataB, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b = startServerWith(t, homeB, freePort(t), concurrency, flags...)
	return a, b
}

func (s *serverProc) runsJSON(t *testing.T) []api.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, out, errOut := s.jetway(t, ctx, "/", "runs", "--json", "--limit", "200")
	if code != 0 {
		t.Fatalf("runs --json: exit %d %s", code, errOut)
	}
	var runs []api.Run
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, out)
	}
	return runs
}

// TestReplicasShareOneDatabase: two servers on one PostgreSQL database
// take 50 deploys sent alternately to each. Every run executes exactly
// once, never two of a project at a time, both servers list all of them,
// and a log followed on the other server is complete.
func TestReplicasShareOneDatabase(t *testing.T) {
	b := bed.Get(t)
	a, c := startReplicas(t, 2)
	replicas := []*serverProc{a, c}
	var dirs []string
	for i := range 5 {
		dirs = append(dirs, localProject(t, b, fmt.Sprintf("replicas-%d", i), `echo "executed by $JETWAY_RUN_ID"; sleep 0.2`, ""))
	}

	// Followed live on the server that did not take the deploy.
	follow := localProject(t, b, "replicas-follow", `for i in $(seq 1 30); do echo "line $i"; sleep 0.05; done`, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, out, errOut := a.jetway(t, ctx, follow, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: exit %d %s", code, errOut)
	}
	followed := strings.TrimSpace(out)
	var followOut string
	var followCode int
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		followCode, followOut, _ = c.jetway(t, ctx, "/", "logs", "-f", followed)
	}()

	ids := deployAll(t, ctx, 50, 10, func(i int) (*serverProc, string) { return replicas[i%2], dirs[i%5] })
	if len(ids) != 50 {
		t.Fatalf("%d of 50 deploys queued", len(ids))
	}
	ids = append(ids, followed)
	runs := a.waitFinished(t, ids, 2*time.Minute)
	<-followDone

	// Both servers list every run.
	for i, s := range replicas {
		var got []string
		for _, r := range s.runsJSON(t) {
			got = append(got, r.ID)
		}
		for _, id := range ids {
			if !slices.Contains(got, id) {
				t.Errorf("server %d does not list run %s", i, id)
			}
		}
	}
	agents := map[string]int{}
	byProject := map[string][]api.Run{}
	for _, r := range runs {
		if r.Status != api.StatusSucceeded {
			t.Errorf("run %s: %s %s", r.ID, r.Status, r.Reason)
		}
		agents[r.Agent]++
		byProject[r.Project] = append(byProject[r.Project], r)
		if r.ID == followed {
			continue
		}
		// Executed once: its log, read on the server that did not take it
		// or the other, says so once.
		log := replicas[len(r.ID)%2].storedLog(t, r.ID)
		if n := strings.Count(log, "executed by "+r.ID); n != 1 {
			t.Errorf("run %s executed %d times:\n%s", r.ID, n, log)
		}
	}
	if len(agents) != 2 {
		t.Errorf("runs by agent: %v; both servers' agents should have taken some", agents)
	}
	for p, list := range byProject {
		for i, r := range list {
			for _, o := range list[i+1:] {
				if r.StartedAt.Before(*o.FinishedAt) && o.StartedAt.Before(*r.FinishedAt) {
					t.Errorf("project %s: runs %s and %s overlapped", p, r.ID, o.ID)
				}
			}
		}
	}
	if followCode != 0 {
		t.Errorf("logs -f on the other server: exit %d\n%s", followCode, followOut)
	}
	last := -1
	for i := 1; i <= 30; i++ {
		at := strings.Index(followOut, fmt.Sprintf("line %d\n", i))
		if at < last {
			t.Fatalf("logs -f on the other server lacks or misorders line %d:\n%s", i, followOut)
		}
		last = at
	}
}

// TestAgentSurvivesItsServerDying: an agent given both servers' addresses
// carries on with the second when the first is killed with SIGKILL in the
// middle of a run; the run succeeds with its whole log.
func TestAgentSurvivesItsServerDying(t *testing.T) {
	b := bed.Get(t)
	a, c := startReplicas(t, 0, "--lease-timeout", "6s")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, token, errOut := c.jetway(t, ctx, "/", "agents", "token", "create", "survivor")
	if code != 0 {
		t.Fatalf("agents token create: exit %d %s", code, errOut)
	}
	if err := os.MkdirAll(agentsWorkRoot, 0o711); err != nil {
		t.Fatal(err)
	}
	workDir, err := os.MkdirTemp(agentsWorkRoot, "survivor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(workDir) })
	first := 360000 + os.Getpid()%500*20
	agent := exec.Command(jetwayBinary(t), "agent", "--server", a.URL+","+c.URL, "--name", "survivor", "--concurrency", "1",
		"--work-dir", workDir, "--log-dir", t.TempDir(), "--run-uids", strconv.Itoa(first)+"-"+strconv.Itoa(first+19), "--drain-timeout", "0", "--allow-local-docker")
	agent.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "JETWAY_AGENT_TOKEN=" + strings.TrimSpace(token)}
	agentOut := &syncBuffer{}
	agent.Stdout, agent.Stderr = agentOut, agentOut
	agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	agent.WaitDelay = 2 * time.Second
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = agent.Process.Signal(syscall.SIGTERM)
		_ = agent.Wait()
		if t.Failed() {
			t.Logf("agent output:\n%s", agentOut.String())
		}
	})

	dir := localProject(t, b, "survivor", `echo start; sleep 4; echo "after the kill"`, "")
	code, out, errOut := c.jetway(t, ctx, dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: exit %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	waitLog(t, c, id, "start")
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	if r := c.waitFinished(t, []string{id}, 90*time.Second)[0]; r.Status != api.StatusSucceeded {
		t.Fatalf("run %s: %s %s\n%s", id, r.Status, r.Reason, c.storedLog(t, id))
	}
	log := c.storedLog(t, id)
	for _, want := range []string{"start", "after the kill"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}
