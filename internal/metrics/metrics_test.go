package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jetway-dev/jetway/internal/metrics"
)

func TestOutcome(t *testing.T) {
	for _, tc := range []struct{ status, want string }{
		{"succeeded", "success"}, {"failed", "failed"}, {"cancelled", "cancelled"}, {"timed_out", "timeout"}, {"weird", "failed"},
	} {
		t.Run(tc.status, func(t *testing.T) {
			if got := metrics.Outcome(tc.status); got != tc.want {
				t.Errorf("Outcome(%q) = %q, want %q", tc.status, got, tc.want)
			}
		})
	}
}

func TestServerCounters(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.NewServer(reg)
	m.RunEnded("hello", "succeeded", 3*time.Second)
	m.RunEnded("hello", "failed", 0) // never ran: counted, not timed
	m.RunEnded("other", "timed_out", time.Hour)
	m.BuildSteps("hello", 3, 5)
	m.BuildSteps("hello", 0, 0)
	m.BuildContext(100)
	m.Leased(-time.Second) // clocks of replicas: never negative
	m.Uploaded(10)
	m.Uploaded(-1)
	m.LogLines(7)
	m.HostGC("b1", 2048)
	m.AgentLost()
	m.StoreError()

	want := `
# HELP jetway_runs_total Runs ended, by project and outcome (success, failed, cancelled, timeout).
# TYPE jetway_runs_total counter
jetway_runs_total{project="hello",status="failed"} 1
jetway_runs_total{project="hello",status="success"} 1
jetway_runs_total{project="other",status="timeout"} 1
# HELP jetway_build_steps_total Cacheable image build steps of ended runs, by project and whether the builder found them cached (true, false).
# TYPE jetway_build_steps_total counter
jetway_build_steps_total{cached="false",project="hello"} 2
jetway_build_steps_total{cached="true",project="hello"} 3
# HELP jetway_uploaded_bytes_total Compressed bytes of bundle blobs and artifact chunks stored by this server.
# TYPE jetway_uploaded_bytes_total counter
jetway_uploaded_bytes_total 10
# HELP jetway_log_lines_total Lines stored in runs' logs by this server.
# TYPE jetway_log_lines_total counter
jetway_log_lines_total 7
# HELP jetway_store_errors_total Statements the database refused or failed (not constraint refusals, missing rows or cancelled requests).
# TYPE jetway_store_errors_total counter
jetway_store_errors_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "jetway_runs_total", "jetway_build_steps_total",
		"jetway_uploaded_bytes_total", "jetway_log_lines_total", "jetway_store_errors_total"); err != nil {
		t.Error(err)
	}
	// One duration per run that ran; the queue wait of 0 s.
	if n := testutil.CollectAndCount(reg, "jetway_run_duration_seconds"); n != 2 {
		t.Errorf("%d run duration series, want 2 (hello, other)", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP jetway_docker_host_gc_freed_bytes_total Bytes garbage collections freed on each Docker host (images and build cache).
# TYPE jetway_docker_host_gc_freed_bytes_total counter
jetway_docker_host_gc_freed_bytes_total{host="b1"} 2048
# HELP jetway_agent_lost_total Agents that went silent for the lease timeout while this server heard them.
# TYPE jetway_agent_lost_total counter
jetway_agent_lost_total 1
# HELP jetway_build_context_bytes_total Bytes of build context runs' builds sent to their Docker hosts, as their summaries report.
# TYPE jetway_build_context_bytes_total counter
jetway_build_context_bytes_total 100
`), "jetway_docker_host_gc_freed_bytes_total", "jetway_agent_lost_total", "jetway_build_context_bytes_total"); err != nil {
		t.Error(err)
	}
	// The text every Prometheus takes: no lint problem in our own metrics.
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "jetway_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// A nil *Server and *Agent record nothing, and do not panic.
func TestNilRecordsNothing(t *testing.T) {
	var m *metrics.Server
	m.RunEnded("p", "succeeded", time.Second)
	m.BuildSteps("p", 1, 1)
	m.Leased(time.Second)
	m.StoreError()
	m.WatchState(nil)
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := m.InstrumentHTTP(h, nil); got == nil {
		t.Error("InstrumentHTTP of a nil Server returned nil")
	}
	var a *metrics.Agent
	a.RunnerStarted()
	a.RunnerExited(nil)
	a.ServerError("lease")
}

func TestState(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.NewServer(reg)
	fail := false
	m.WatchState(func(context.Context) (metrics.State, error) {
		if fail {
			return metrics.State{}, errors.New("the database is gone")
		}
		return metrics.State{
			Queued:  map[string]int{"pool=builders": 2},
			Running: 3, Slots: 4, SlotsBusy: 3,
			Agents: map[string]int{metrics.AgentBusy: 2},
			Hosts: []metrics.HostState{
				{Name: "b1", Checked: true, Up: true, FreeBytes: 10, DiskBytes: 100, BuildCacheBytes: 7},
				{Name: "b2", Checked: true, BuildCacheBytes: 1}, // down, disk unknown (tcp://)
				{Name: "b3"}, // never checked
			},
		}, nil
	})
	want := `
# HELP jetway_runs_queued Runs waiting in the queue, by their runs_on labels.
# TYPE jetway_runs_queued gauge
jetway_runs_queued{runs_on=""} 0
jetway_runs_queued{runs_on="pool=builders"} 2
# HELP jetway_runs_running Runs leased to an agent and not ended.
# TYPE jetway_runs_running gauge
jetway_runs_running 3
# HELP jetway_agents Agents by state: busy and idle ones were heard within the lease timeout, offline ones not.
# TYPE jetway_agents gauge
jetway_agents{state="busy"} 2
jetway_agents{state="idle"} 0
jetway_agents{state="offline"} 0
# HELP jetway_agent_slots Runs the live agents may execute at once (their concurrency).
# TYPE jetway_agent_slots gauge
jetway_agent_slots 4
# HELP jetway_agent_slots_busy Slots of live agents that execute a run.
# TYPE jetway_agent_slots_busy gauge
jetway_agent_slots_busy 3
# HELP jetway_docker_host_up Whether the last health check of a Docker host found it up (1) or down (0).
# TYPE jetway_docker_host_up gauge
jetway_docker_host_up{host="b1"} 1
jetway_docker_host_up{host="b2"} 0
# HELP jetway_docker_host_disk_free_bytes Free bytes of a Docker host's data root, as its last check measured (ssh:// hosts).
# TYPE jetway_docker_host_disk_free_bytes gauge
jetway_docker_host_disk_free_bytes{host="b1"} 10
# HELP jetway_docker_host_disk_bytes Size in bytes of a Docker host's data root's disk, as its last check measured (ssh:// hosts).
# TYPE jetway_docker_host_disk_bytes gauge
jetway_docker_host_disk_bytes{host="b1"} 100
# HELP jetway_docker_host_build_cache_bytes Bytes of build cache on a Docker host, as its last check found.
# TYPE jetway_docker_host_build_cache_bytes gauge
jetway_docker_host_build_cache_bytes{host="b1"} 7
jetway_docker_host_build_cache_bytes{host="b2"} 1
`
	names := []string{"jetway_runs_queued", "jetway_runs_running", "jetway_agents", "jetway_agent_slots", "jetway_agent_slots_busy",
		"jetway_docker_host_up", "jetway_docker_host_disk_free_bytes", "jetway_docker_host_disk_bytes", "jetway_docker_host_build_cache_bytes"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// A store that fails: the gauges go (no stale number), the rest is
	// served.
	fail = true
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	body := get(t, srv.URL)
	if strings.Contains(body, "jetway_runs_running") {
		t.Error("a failed read of the state still exported jetway_runs_running")
	}
	for _, want := range []string{"jetway_store_errors_total 0", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %q:\n%s", want, body)
		}
	}
}

func TestInstrumentHTTP(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.NewServer(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		// A stream: the writer must still flush.
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the instrumented writer does not flush")
		}
		_ = http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(m.InstrumentHTTP(mux, func(r *http.Request) string { return r.Pattern }))
	defer srv.Close()
	for _, p := range []string{"/v1/runs/a", "/v1/runs/b", "/v1/runs/missing"} {
		get(t, srv.URL+p)
	}
	if resp, err := http.Post(srv.URL+"/v1/runs/a", "text/plain", nil); err == nil {
		resp.Body.Close()
	}
	want := `
# HELP jetway_http_requests_total HTTP requests answered by the API listener, by route (the mux's pattern) and status code.
# TYPE jetway_http_requests_total counter
jetway_http_requests_total{code="200",route="GET /v1/runs/{id}"} 2
jetway_http_requests_total{code="404",route="GET /v1/runs/{id}"} 1
jetway_http_requests_total{code="405",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "jetway_http_requests_total"); err != nil {
		t.Error(err)
	}
	// Run ids never become labels.
	scrape := httptest.NewServer(metrics.Handler(reg))
	defer scrape.Close()
	if body := get(t, scrape.URL); strings.Contains(body, "/v1/runs/a") {
		t.Errorf("a path became a label:\n%s", body)
	}
}

func TestAgent(t *testing.T) {
	reg := metrics.NewRegistry()
	a := metrics.NewAgent(reg)
	a.Concurrency(4)
	a.RunnerStarted()
	a.RunnerStarted()
	a.RunnerExited(nil)
	a.RunnerExited(errors.New("killed"))
	a.RunnerStarted()
	a.ServerError("heartbeat")
	a.Draining()
	want := `
# HELP jetway_agent_concurrency Runs this agent executes at once, at most.
# TYPE jetway_agent_concurrency gauge
jetway_agent_concurrency 4
# HELP jetway_agent_runs_executing Runners this agent has started that have not exited.
# TYPE jetway_agent_runs_executing gauge
jetway_agent_runs_executing 1
# HELP jetway_agent_runs_started_total Runners this agent started.
# TYPE jetway_agent_runs_started_total counter
jetway_agent_runs_started_total 3
# HELP jetway_agent_runners_exited_total Runners of this agent that exited, by result: ok (the runner reported its run, whatever its outcome) or error.
# TYPE jetway_agent_runners_exited_total counter
jetway_agent_runners_exited_total{result="error"} 1
jetway_agent_runners_exited_total{result="ok"} 1
# HELP jetway_agent_server_errors_total Requests of this agent to the server that failed, by call (lease, heartbeat).
# TYPE jetway_agent_server_errors_total counter
jetway_agent_server_errors_total{call="heartbeat"} 1
jetway_agent_server_errors_total{call="lease"} 0
# HELP jetway_agent_draining 1 while this agent drains (it leases no more runs), else 0.
# TYPE jetway_agent_draining gauge
jetway_agent_draining 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "jetway_agent_concurrency", "jetway_agent_runs_executing",
		"jetway_agent_runs_started_total", "jetway_agent_runners_exited_total", "jetway_agent_server_errors_total", "jetway_agent_draining"); err != nil {
		t.Error(err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
