package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/sandbox"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// TestPrometheusScrapesADeploy: a real Prometheus (Debian's) scrapes a
// server (--concurrency 0) and an agent on their --metrics-listen
// addresses while a project with an image deploys twice on the agent.
// What Prometheus stored matches what the API says happened: two
// successes, the build steps cached and not, two queue waits, the
// agent's two runners. promtool accepts both /metrics pages, the API
// listener serves none, and every line the server and the agent wrote
// with --log-format json is a JSON object.
func TestPrometheusScrapesADeploy(t *testing.T) {
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no prometheus binary (scripts/setup.sh installs Debian's prometheus)")
		}
		t.Skip("no prometheus binary; apt-get install prometheus")
	}
	b := bed.Get(t)
	serverMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	agentMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := &agentsBed{b: b, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	e.s = startServerOn(t, t.TempDir(), e.addr, "--metrics-listen", serverMetrics, "--log-format", "json", "--verbose")
	a := startAgentWith(t, e, "m1", "pool=metrics", 1, "--metrics-listen", agentMetrics, "--log-format", "json")

	// The API listener serves no metrics; the metrics listener no API.
	if code := httpStatus(t, e.s.URL+"/metrics"); code == http.StatusOK {
		if body := httpGet(t, e.s.URL+"/metrics"); strings.Contains(body, "jetway_runs_total") {
			t.Fatal("the API listener serves /metrics")
		}
	}
	if code := httpStatus(t, "http://"+serverMetrics+"/v1/runs"); code != http.StatusNotFound {
		t.Fatalf("the metrics listener answers /v1/runs with %d", code)
	}

	// Prometheus scrapes both every second.
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	promDir := t.TempDir()
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: jetway-server
    static_configs: [{targets: [%q]}]
  - job_name: jetway-agent
    static_configs: [{targets: [%q]}]
`, serverMetrics, agentMetrics)
	if err := os.WriteFile(filepath.Join(promDir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(prometheus, "--config.file", filepath.Join(promDir, "prometheus.yml"), "--storage.tsdb.path", filepath.Join(promDir, "data"),
		"--web.listen-address", promAddr)
	promOut := &syncBuffer{}
	prom.Stdout, prom.Stderr = promOut, promOut
	prom.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prom.Process.Signal(syscall.SIGTERM)
		_ = prom.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", promOut.String())
		}
	})
	q := promQuerier{t: t, base: "http://" + promAddr}
	q.waitFor(`sum(up{job=~"jetway-.*"})`, 2, promOut)

	// A project with an image, built on this machine's Docker daemon
	// twice: the second build finds its RUN step cached.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo built > /built\n", testbed.BaseImage),
		"jetway.yaml": fmt.Sprintf(`project: e2e-metrics
runs_on: {pool: metrics}
env:
  vars:
    DOCKER_HOST: unix://%s
image:
  name: e2e-metrics
  push: false
phases:
  build: ["echo hello from the build phase"]
`, b.LocalSocket),
	})
	var runs []api.Run
	for range 2 {
		id := e.deploy(t, dir)
		runs = append(runs, e.waitRun(t, id, 3*time.Minute, "finished", func(r api.Run) bool { return api.Finished(r.Status) }))
	}
	var cached, uncached int
	for _, r := range runs {
		if r.Status != api.StatusSucceeded || r.Summary == nil || r.Summary.Build == nil {
			t.Fatalf("run %s: %s %+v\n%s", r.ID, r.Status, r.Summary, a.out.String())
		}
		c, all := r.Summary.Build.CacheHits()
		cached, uncached = cached+c, uncached+all-c
	}
	if cached == 0 {
		t.Fatalf("the second build found nothing cached: %+v", runs[1].Summary.Build)
	}

	// What Prometheus stored matches.
	q.waitFor(`sum(jetway_runs_total{project="e2e-metrics",status="success"})`, 2, promOut)
	q.waitFor(`sum(jetway_runs_total{project="e2e-metrics",status!="success"}) or vector(0)`, 0, promOut)
	q.waitFor(`sum(jetway_build_steps_total{project="e2e-metrics",cached="true"})`, float64(cached), promOut)
	q.waitFor(`sum(jetway_build_steps_total{project="e2e-metrics",cached="false"})`, float64(uncached), promOut)
	q.waitFor(`sum(jetway_queue_wait_seconds_count)`, 2, promOut)
	q.waitFor(`sum(jetway_run_duration_seconds_count{project="e2e-metrics"})`, 2, promOut)
	q.waitFor(`sum(jetway_agent_runs_started_total{job="jetway-agent"})`, 2, promOut)
	q.waitFor(`sum(jetway_agent_runners_exited_total{job="jetway-agent",result="ok"})`, 2, promOut)
	q.waitFor(`jetway_agent_slots{job="jetway-server"}`, 1, promOut)
	q.waitFor(`jetway_agent_slots_busy{job="jetway-server"}`, 0, promOut)
	q.waitFor(`jetway_agents{job="jetway-server",state="idle"}`, 1, promOut)
	q.waitFor(`sum(jetway_runs_queued{job="jetway-server"})`, 0, promOut)
	q.waitFor(`jetway_store_errors_total{job="jetway-server"}`, 0, promOut)
	if n := q.value(`sum(jetway_http_requests_total{route="POST /v1/runs/{id}/events",code="200"})`); n < 2 {
		t.Errorf("event batches counted: %v", n)
	}
	if n := q.value(`sum(jetway_log_lines_total)`); n < 2 {
		t.Errorf("log lines counted: %v", n)
	}
	if n := q.value(`sum(jetway_uploaded_bytes_total)`); n <= 0 {
		t.Errorf("uploaded bytes counted: %v", n)
	}
	if n := q.value(`sum(jetway_build_context_bytes_total)`); n <= 0 {
		t.Errorf("build context bytes counted: %v", n)
	}
	for _, addr := range []string{serverMetrics, agentMetrics} {
		body := httpGet(t, "http://"+addr+"/metrics")
		for _, r := range runs {
			if strings.Contains(body, r.ID) {
				t.Errorf("a run id is in %s's metrics", addr)
			}
		}
		check := exec.Command("promtool", "check", "metrics")
		check.Stdin = strings.NewReader(body)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics of %s: %v\n%s", addr, err, out)
		}
	}

	// Every line of the server's and the agent's output is a JSON object
	// with time, level and msg (both stopped first: their last lines too).
	a.remove(t)
	e.s.stop()
	for name, out := range map[string]string{"server": e.s.log.String(), "agent": a.out.String()} {
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) < 3 {
			t.Errorf("the %s wrote only %q", name, out)
		}
		sawRun := false
		for _, line := range lines {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("a line of the %s is not JSON: %q", name, line)
				continue
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("a line of the %s has no %s: %q", name, k, line)
				}
			}
			if rec["run"] == runs[0].ID {
				sawRun = true
			}
		}
		if !sawRun {
			t.Errorf("no line of the %s names run %s as its run attribute", name, runs[0].ID)
		}
	}
}

// startAgentWith starts an agent on this machine (the local Docker daemon
// allowed) with extra flags, as agentsBed.startAgent does.
func startAgentWith(t *testing.T, e *agentsBed, name, labels string, concurrency int, extra ...string) *agentProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, out, errOut := e.s.jetway(t, ctx, "/", "agents", "token", "create", name, "--labels", labels)
	if code != 0 {
		t.Fatalf("agents token create %s: exit %d %s", name, code, errOut)
	}
	if err := os.MkdirAll(agentsWorkRoot, 0o711); err != nil {
		t.Fatal(err)
	}
	workDir, err := os.MkdirTemp(agentsWorkRoot, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	first := 340000 + os.Getpid()%500*200 + int(agentUIDs.Add(1))%10*20
	a := &agentProc{e: e, name: name, token: strings.TrimSpace(out), workDir: workDir, uids: sandbox.UIDRange{First: first, Last: first + 19}}
	a.args = append([]string{"agent", "--server", e.s.URL, "--name", name, "--labels", labels, "--concurrency", strconv.Itoa(concurrency),
		"--work-dir", workDir, "--log-dir", t.TempDir(), "--run-uids", a.uids.String(), "--drain-timeout", "0", "--allow-local-docker"}, extra...)
	t.Cleanup(func() { a.remove(t) })
	started := time.Now()
	a.start(t)
	a.waitHeard(t, started)
	return a
}

// promQuerier asks Prometheus's HTTP API.
type promQuerier struct {
	t    *testing.T
	base string
}

// query returns the value of an instant query with one sample, and
// whether it had one.
func (q promQuerier) query(expr string) (float64, bool) {
	q.t.Helper()
	resp, err := http.Get(q.base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, false // still starting
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, false
	}
	if out.Status != "success" {
		q.t.Fatalf("query %s: %s", expr, out.Error)
	}
	if len(out.Data.Result) != 1 {
		return 0, false
	}
	s, _ := out.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func (q promQuerier) value(expr string) float64 {
	q.t.Helper()
	v, ok := q.query(expr)
	if !ok {
		q.t.Errorf("query %s: no single sample", expr)
	}
	return v
}

// waitFor waits until expr is want: the scrapes after what happened may
// not have come yet. It is no bound on how fast: two minutes are plenty.
func (q promQuerier) waitFor(expr string, want float64, log *syncBuffer) {
	q.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var got float64
	var ok bool
	for time.Now().Before(deadline) {
		if got, ok = q.query(expr); ok && got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	q.t.Fatalf("Prometheus: %s = %v (sample: %v), want %v\n%s", expr, got, ok, want, log.String())
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = io.Copy(&b, resp.Body)
	return b.String()
}

func httpStatus(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
