package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/metrics"
)

// The server's metrics follow a run through the queue, a lease, the
// runner's events and its summary; the gauges come from the store.
func TestMetricsOfARun(t *testing.T) {
	reg := metrics.NewRegistry()
	s, err := openServer(context.Background(), Options{DataDir: filepath.Join(t.TempDir(), "data"), LeaseTimeout: time.Minute, Metrics: metrics.NewServer(reg)}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := httptest.NewServer(s.Handler())
	defer h.Close()

	id := s.queue(t, "hello", "runs_on: {pool: builders}\n")
	other := s.queue(t, "other", "")
	compare(t, reg, `
jetway_runs_queued{runs_on=""} 1
jetway_runs_queued{runs_on="pool=builders"} 1
jetway_runs_running 0
jetway_agent_slots 0
jetway_agent_slots_busy 0
jetway_agents{state="busy"} 0
jetway_agents{state="idle"} 0
jetway_agents{state="offline"} 0
`)

	// Leased by an agent with 2 slots: one busy, the queue wait observed.
	a := agent("b1", 2, "pool=builders")
	s.register(t, a.Name)
	s.agents.heard(a, "", s.persistEvery())
	l, err := s.tryLease(context.Background(), a)
	if err != nil || l == nil || l.RunID != id {
		t.Fatalf("lease: %+v, %v", l, err)
	}
	compare(t, reg, `
jetway_runs_queued{runs_on=""} 1
jetway_runs_running 1
jetway_agent_slots 2
jetway_agent_slots_busy 1
jetway_agents{state="busy"} 1
jetway_agents{state="idle"} 0
jetway_agents{state="offline"} 0
`)
	if n := testutil.CollectAndCount(reg, "jetway_queue_wait_seconds"); n != 1 {
		t.Errorf("queue wait: %d series", n)
	}

	// The runner's events: two log lines, then a summary with a build of
	// three cacheable steps, two cached.
	now := time.Now()
	batch := []api.Event{
		{Seq: 1, Type: "log", Time: now, Message: "one"},
		{Seq: 2, Type: "log", Time: now, Message: "two"},
		{Seq: 3, Type: "summary", Time: now, Summary: &api.Summary{RunID: id, Project: "hello", Status: api.StatusSucceeded,
			Build: &api.BuildResult{ContextBytes: 1234, Steps: []api.Step{{Number: 1, Cacheable: false}, {Number: 2, Cacheable: true, Cached: true},
				{Number: 3, Cacheable: true, Cached: true}, {Number: 4, Cacheable: true}}}}},
	}
	for range 2 { // sent again: counted once
		body, _ := json.Marshal(batch)
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/v1/runs/"+id+"/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+l.RunToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("events: %s", resp.Status)
		}
	}
	// A queued run cancelled.
	if st, err := s.cancel(context.Background(), other); err != nil || st != api.StatusCancelled {
		t.Fatalf("cancel: %s, %v", st, err)
	}
	compare(t, reg, `
jetway_runs_total{project="hello",status="success"} 1
jetway_runs_total{project="other",status="cancelled"} 1
jetway_build_steps_total{cached="false",project="hello"} 1
jetway_build_steps_total{cached="true",project="hello"} 2
jetway_build_context_bytes_total 1234
jetway_http_requests_total{code="200",route="POST /v1/runs/{id}/events"} 2
jetway_runs_running 0
jetway_agent_slots_busy 0
`)
	// The cancelled run never ran: one duration, hello's.
	if n := testutil.CollectAndCount(reg, "jetway_run_duration_seconds"); n != 1 {
		t.Errorf("run durations: %d series, want 1", n)
	}
	// The log: the events' lines, and the server's own line for the
	// cancelled run, however often the batch came.
	lines := value(t, reg, "jetway_log_lines_total")
	if lines < 3 {
		t.Errorf("log lines: %v, want at least 3", lines)
	}
	logText, err := s.runs.ReadLog(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	for _, c := range logText {
		stored += strings.Count(c.Data, "\n")
	}
	if want := float64(stored + 1); lines != want {
		t.Errorf("log lines: %v, but the logs hold %v", lines, want)
	}

	// The agent goes silent: lost, once.
	s.agents.mu.Lock()
	s.agents.seen[a.Name] = time.Now().Add(-2 * time.Minute)
	s.agents.mu.Unlock()
	s.watchLostAgents(context.Background())
	s.watchLostAgents(context.Background())
	compare(t, reg, `
jetway_agent_lost_total 1
jetway_agents{state="busy"} 0
jetway_agents{state="idle"} 0
jetway_agents{state="offline"} 1
jetway_store_errors_total 0
`)

	// The database goes away: its errors are counted.
	s.runs.Close()
	s.queueChanged()
	if _, err := s.metricsState(context.Background()); err == nil {
		t.Fatal("the state read a closed database")
	}
	if n := value(t, reg, "jetway_store_errors_total"); n < 1 {
		t.Errorf("store errors: %v", n)
	}
}

// scrape is what Prometheus would read from reg.
func scrape(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return strings.Split(rec.Body.String(), "\n")
}

// compare checks that each line of want is a sample of reg's.
func compare(t *testing.T, reg *prometheus.Registry, want string) {
	t.Helper()
	got := scrape(t, reg)
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if !slices.Contains(got, strings.TrimSpace(line)) {
			t.Errorf("no sample %s in:\n%s", line, strings.Join(filterJetway(got), "\n"))
		}
	}
}

func filterJetway(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "jetway_") {
			out = append(out, l)
		}
	}
	return out
}

// value is the value of one series of reg.
func value(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	for _, l := range scrape(t, reg) {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// /readyz: ready while the store answers and the server does not drain.
func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name  string
		do    func(s *Server)
		code  int
		words string
	}{
		{"ready", func(*Server) {}, http.StatusOK, "ready"},
		{"draining", func(s *Server) { s.Drain() }, http.StatusServiceUnavailable, "draining"},
		{"store gone", func(s *Server) { s.runs.Close() }, http.StatusServiceUnavailable, "the store"},
		{"migration unfinished", func(s *Server) {
			if _, err := s.runs.Setting(context.Background(), MigrationSetting, MigrationInProgress); err != nil {
				t.Fatal(err)
			}
		}, http.StatusServiceUnavailable, "migrate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, time.Minute)
			tc.do(s)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.words) {
				t.Errorf("/readyz: %d %q, want %d with %q", rec.Code, rec.Body.String(), tc.code, tc.words)
			}
			rec = httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("/healthz: %d", rec.Code)
			}
		})
	}
}
