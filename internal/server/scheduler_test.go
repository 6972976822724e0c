package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// The scheduler through the agent protocol, with fake agents: each test
// is one rule of leasing. Agents are called in process, by name.

func newTestServer(t *testing.T, leaseTimeout time.Duration) *Server {
	t.Helper()
	s, err := openServer(context.Background(), Options{DataDir: filepath.Join(t.TempDir(), "data"), LeaseTimeout: leaseTimeout}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var runCount int

func (s *Server) queue(t *testing.T, project, runsOn string) string {
	t.Helper()
	runCount++
	id := fmt.Sprintf("r%03d", runCount)
	file := "project: " + project + "\n" + runsOn
	err := s.runs.CreateRun(context.Background(), record.Run{Run: api.Run{ID: id, Project: project, Status: api.StatusQueued, Bundle: "b", CreatedAt: time.Now()}, ProjectFile: file})
	if err != nil {
		t.Fatal(err)
	}
	s.agents.broadcast()
	return id
}

func agent(name string, concurrency int, labels ...string) runproto.AgentInfo {
	a := runproto.AgentInfo{Name: name, Concurrency: concurrency, Labels: map[string]string{}}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		a.Labels[k] = v
	}
	return a
}

// register gives a fake agent a token, as jetway agents token create does.
func (s *Server) register(t *testing.T, name string) {
	t.Helper()
	if name == s.localAgent {
		return
	}
	if err := s.runs.CreateAgent(context.Background(), name, "hash-of-"+name, nil, 0); err != nil && err != record.ErrExists {
		t.Fatal(err)
	}
}

// leaseNow leases without waiting.
func (s *Server) leaseNow(t *testing.T, a runproto.AgentInfo) string {
	t.Helper()
	s.register(t, a.Name)
	s.agents.heard(a, "", s.persistEvery())
	l, err := s.tryLease(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if l == nil {
		return ""
	}
	return l.RunID
}

func (s *Server) status(t *testing.T, id string) record.Run {
	t.Helper()
	r, err := s.runs.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLeaseMatchesLabels(t *testing.T) {
	s := newTestServer(t, time.Minute)
	id := s.queue(t, "p", "runs_on: {pool: builders}\n")
	if got := s.leaseNow(t, agent("plain", 2)); got != "" {
		t.Fatalf("an agent without the labels leased %s", got)
	}
	s.explainQueue(context.Background())
	if r := s.status(t, id); !strings.Contains(r.Reason, "labels pool=builders") {
		t.Fatalf("the queued run does not say why it waits: %q", r.Reason)
	}
	if got := s.leaseNow(t, agent("b1", 2, "pool=builders", "arch=amd64")); got != id {
		t.Fatalf("the matching agent leased %q", got)
	}
	if r := s.status(t, id); r.Status != api.StatusProvisioning || r.Agent != "b1" || r.Reason != "" {
		t.Fatalf("after the lease: %+v", r.Run)
	}
}

func TestOneRunPerProjectAcrossAgentsAndFIFO(t *testing.T) {
	s := newTestServer(t, time.Minute)
	a1, a2, b1 := s.queue(t, "a", ""), s.queue(t, "a", ""), s.queue(t, "b", "")
	if got := s.leaseNow(t, agent("x", 4)); got != a1 {
		t.Fatalf("first lease %q, want the oldest %s", got, a1)
	}
	if got := s.leaseNow(t, agent("y", 4)); got != b1 {
		t.Fatalf("second lease %q: project a is busy, so %s", got, b1)
	}
	if got := s.leaseNow(t, agent("y", 4)); got != "" {
		t.Fatalf("leased %q while both projects run", got)
	}
	// a1 ends: a2 may go.
	if _, err := s.runs.Transition(context.Background(), a1, []string{api.StatusProvisioning}, api.StatusSucceeded, "", nil); err != nil {
		t.Fatal(err)
	}
	if got := s.leaseNow(t, agent("y", 4)); got != a2 {
		t.Fatalf("after a1 ended: %q", got)
	}
}

func TestLeaseRespectsConcurrency(t *testing.T) {
	s := newTestServer(t, time.Minute)
	s.queue(t, "a", "")
	s.queue(t, "b", "")
	if s.leaseNow(t, agent("one", 1)) == "" {
		t.Fatal("no lease")
	}
	if got := s.leaseNow(t, agent("one", 1)); got != "" {
		t.Fatalf("an agent of concurrency 1 got a second run %s", got)
	}
}

// A waiting lease is answered as soon as a run is queued.
func TestLongPollAnswersAtOnce(t *testing.T) {
	s := newTestServer(t, time.Minute)
	got := make(chan *runproto.Lease, 1)
	s.register(t, "w")
	go func() {
		l, _ := s.lease(context.Background(), runproto.LeaseRequest{Agent: agent("w", 1)}, "")
		got <- l
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	id := s.queue(t, "p", "")
	select {
	case l := <-got:
		if l == nil || l.RunID != id || !strings.HasPrefix(l.RunToken, "jwr_") {
			t.Fatalf("lease %+v", l)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("the waiting agent got the run after %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting lease was not answered")
	}
}

// A run leased but never started is queued again once; a started run of a
// silent agent fails with the agent lost.
func TestSilentAgentsLoseTheirRuns(t *testing.T) {
	s := newTestServer(t, 100*time.Millisecond)
	ctx := context.Background()
	id := s.queue(t, "p", "")
	if s.leaseNow(t, agent("gone", 1)) != id {
		t.Fatal("no lease")
	}
	time.Sleep(150 * time.Millisecond)
	s.expireLeases(ctx, time.Now())
	if r := s.status(t, id); r.Status != api.StatusQueued || !strings.Contains(r.Reason, "queued again") {
		t.Fatalf("a never-started run of a lost agent: %+v", r.Run)
	}
	if s.leaseNow(t, agent("flaky", 1)) != id {
		t.Fatal("the requeued run was not leased again")
	}
	if _, err := s.heartbeat(ctx, runproto.HeartbeatRequest{Agent: agent("flaky", 1), Running: []string{id}}, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	s.expireLeases(ctx, time.Now())
	r := s.status(t, id)
	if r.Status != api.StatusFailed || r.Reason != "agent flaky lost (no heartbeat for 100ms)" {
		t.Fatalf("a started run of a lost agent: %+v", r.Run)
	}
	// Its agent, back, is told to stop it.
	resp, err := s.heartbeat(ctx, runproto.HeartbeatRequest{Agent: agent("flaky", 1), Running: []string{id}}, "")
	if err != nil || len(resp.Cancel) != 1 || resp.Cancel[0] != id {
		t.Fatalf("the returning agent was not told to stop %s: %+v %v", id, resp, err)
	}
}

// A live agent keeps the runs it lists (they are running from then on) and
// hears of cancellations at its next heartbeat; a run it never listed goes
// back to the queue after the grace, and a listed run it stops listing
// fails.
func TestHeartbeats(t *testing.T) {
	s := newTestServer(t, time.Second)
	ctx := context.Background()
	a, b, c := s.queue(t, "a", ""), s.queue(t, "b", ""), s.queue(t, "c", "")
	live := agent("live", 3)
	for range 3 {
		s.leaseNow(t, live)
	}
	for range 4 {
		resp, err := s.heartbeat(ctx, runproto.HeartbeatRequest{Agent: live, Running: []string{a, b}}, "")
		if err != nil || len(resp.Cancel) > 0 {
			t.Fatalf("%+v %v", resp, err)
		}
		time.Sleep(400 * time.Millisecond)
		s.expireLeases(ctx, time.Now())
	}
	if r := s.status(t, a); r.Status != api.StatusRunning {
		t.Fatalf("a run its agent lists: %+v", r.Run)
	}
	if r := s.status(t, c); r.Status != api.StatusQueued || !strings.Contains(r.Reason, "did not start") {
		t.Fatalf("a run its agent never listed: %+v", r.Run)
	}
	if status, err := s.cancel(ctx, a); err != nil || status != "cancelling" {
		t.Fatalf("cancel: %s %v", status, err)
	}
	resp, _ := s.heartbeat(ctx, runproto.HeartbeatRequest{Agent: live, Running: []string{a, b}}, "")
	if len(resp.Cancel) != 1 || resp.Cancel[0] != a {
		t.Fatalf("the cancellation did not reach the agent: %+v", resp)
	}
	// b's runner vanishes.
	if _, err := s.heartbeat(ctx, runproto.HeartbeatRequest{Agent: live, Running: []string{a}}, ""); err != nil {
		t.Fatal(err)
	}
	if r := s.status(t, b); r.Status != api.StatusFailed || !strings.Contains(r.Reason, "exited without a result") {
		t.Fatalf("a vanished runner's run: %+v", r.Run)
	}
}

// A run leased within the grace need not be listed yet.
func TestHeartbeatGraceForNewLeases(t *testing.T) {
	s := newTestServer(t, time.Minute)
	ctx := context.Background()
	id := s.queue(t, "p", "")
	s.leaseNow(t, agent("slow", 1))
	if _, err := s.heartbeat(ctx, runproto.HeartbeatRequest{Agent: agent("slow", 1)}, ""); err != nil {
		t.Fatal(err)
	}
	if r := s.status(t, id); r.Status != api.StatusProvisioning {
		t.Fatalf("a just-leased run was taken back: %+v", r.Run)
	}
}

// An agent revoked while its lease waits gets no run (and no run token).
func TestRevokedAgentGetsNoLease(t *testing.T) {
	s := newTestServer(t, time.Minute)
	ctx := context.Background()
	s.register(t, "gone")
	if err := s.runs.RevokeAgent(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	id := s.queue(t, "p", "")
	if _, err := s.tryLease(ctx, agent("gone", 1)); err != errAgentRevoked {
		t.Fatalf("a revoked agent's lease: %v", err)
	}
	if r := s.status(t, id); r.Status != api.StatusQueued {
		t.Fatalf("the run went to a revoked agent: %+v", r.Run)
	}
}

// After a restart, runs on agents go on; the server's own fail.
func TestRestartKeepsAgentRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := openServer(context.Background(), Options{DataDir: dir}, "")
	if err != nil {
		t.Fatal(err)
	}
	remote, local := s.queue(t, "remote", ""), s.queue(t, "local", "")
	s.leaseNow(t, agent("far", 1))
	s.leaseNow(t, agent(LocalAgent, 1))
	s.Close()
	s2, err := openServer(context.Background(), Options{DataDir: dir}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r := s2.status(t, remote); r.Status != api.StatusProvisioning {
		t.Fatalf("a run on an agent after a restart: %+v", r.Run)
	}
	if r := s2.status(t, local); r.Status != api.StatusFailed || r.Reason != "server restarted" {
		t.Fatalf("a run of the server's own agent after a restart: %+v", r.Run)
	}
}

// An agent claims only what its token allows: a compromised agent that
// says pool=trusted and concurrency 1000 gets neither.
func TestAgentsClaimOnlyWhatTheirTokenAllows(t *testing.T) {
	s := newTestServer(t, time.Minute)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		allowed map[string]string
		max     int
		claimed runproto.AgentInfo
		want    runproto.AgentInfo
	}{
		{"nothing allowed", nil, 0, agent("x", 1000, "pool=trusted", "arch=amd64"), runproto.AgentInfo{Name: "x", Labels: map[string]string{"arch": "amd64"}, Concurrency: defaultMaxConcurrency}},
		{"narrowed", map[string]string{"pool": "trusted", "gpu": "yes"}, 4, agent("x", 2, "pool=trusted", "site=far"), runproto.AgentInfo{Name: "x", Labels: map[string]string{"pool": "trusted"}, Concurrency: 2}},
		{"another value", map[string]string{"pool": "builders"}, 4, agent("x", 9, "pool=trusted"), runproto.AgentInfo{Name: "x", Labels: map[string]string{}, Concurrency: 4}},
	} {
		got := bound(record.Agent{Agent: api.Agent{Name: "x", Allowed: tc.allowed, MaxConcurrency: tc.max}}, tc.claimed)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	id := s.queue(t, "secret", "runs_on: {pool: trusted}\n")
	evil := bound(record.Agent{Agent: api.Agent{Name: "evil"}}, agent("evil", 1000, "pool=trusted"))
	s.register(t, "evil")
	if l, err := s.tryLease(ctx, evil); err != nil || l != nil {
		t.Fatalf("an agent whose token allows no pool leased %+v (%v)", l, err)
	}
	if r := s.status(t, id); r.Status != api.StatusQueued {
		t.Fatalf("the run: %+v", r.Run)
	}
}
