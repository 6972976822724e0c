package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/pgtest"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// Attacks on several servers sharing one PostgreSQL database: each test
// runs real servers (server.New) on a throw-away database.

var attackPG pgtest.Shared

func TestMain(m *testing.M) { code := m.Run(); attackPG.Close(); bed.Close(); os.Exit(code) }

// replica starts a server on url with dataDir, which holds (or receives)
// the first replica's token and master key, as the README says.
func replica(t *testing.T, url, dataDir, from string, leaseTimeout time.Duration) *Server {
	t.Helper()
	if from != "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"token", "master.key"} {
			data, err := os.ReadFile(filepath.Join(from, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dataDir, f), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := openServer(context.Background(), Options{DataDir: dataDir, LeaseTimeout: leaseTimeout}, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two replicas whose hosts have the same short name (jetway.eu-west.corp
// and jetway.us-east.corp both shorten to "jetway") give their own agents
// names that still differ: each data dir has a random server id. Both run
// on this one host here, which has the same short name exactly as two such
// hosts would. A restart of the second leaves the run the first's own
// agent executes alone. And two servers on one data dir are refused.
func TestAttackLocalAgentNamesCollide(t *testing.T) {
	url := attackPG.DB(t)
	dirA := filepath.Join(t.TempDir(), "var-lib-jetway")
	a := replica(t, url, dirA, "", time.Minute)
	id := a.queue(t, "p", "")
	ctx := context.Background()
	l, err := a.Coordinator().Lease(ctx, runproto.LeaseRequest{Agent: runproto.AgentInfo{Concurrency: 1}})
	if err != nil || l == nil || l.RunID != id {
		t.Fatalf("lease on A: %+v %v", l, err)
	}
	if _, err := a.Coordinator().Heartbeat(ctx, runproto.HeartbeatRequest{Agent: runproto.AgentInfo{Concurrency: 1}, Running: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if _, err := openServer(ctx, Options{DataDir: dirA}, url); err == nil || !strings.Contains(err.Error(), "another jetway server uses the data dir") {
		t.Fatalf("a second server on A's data dir: %v", err)
	}
	b := replica(t, url, filepath.Join(t.TempDir(), "var-lib-jetway"), dirA, time.Minute) // the other host's server (re)starts
	if a.LocalAgentName() == b.LocalAgentName() {
		t.Errorf("two replicas' own agents are both named %s", a.LocalAgentName())
	}
	if r := a.status(t, id); r.Status != api.StatusRunning {
		t.Fatalf("replica B's start ended the run replica A's own agent executes: %s %q", r.Status, r.Reason)
	}
}

// Agents' last contacts are written by the replica they talk to, with
// that replica's clock, and read by the others with theirs. A replica
// whose clock is 45 s behind (no NTP, a resumed VM) makes every other
// replica fail the runs of a healthy agent that talks to it.
func TestAttackClockSkewFailsALiveAgentsRuns(t *testing.T) {
	url := attackPG.DB(t)
	x := replica(t, url, filepath.Join(t.TempDir(), "x"), "", 0) // default lease timeout, 30 s
	y := replica(t, url, filepath.Join(t.TempDir(), "y"), x.dataDir, 0)
	ctx := context.Background()
	id := y.queue(t, "p", "")
	builder := agent("builder", 1)
	if got := y.leaseNow(t, builder); got != id {
		t.Fatalf("lease on Y: %q", got)
	}
	if _, err := y.heartbeat(ctx, runproto.HeartbeatRequest{Agent: builder, Running: []string{id}}, "10.0.0.7"); err != nil {
		t.Fatal(err)
	}
	// Y records the heartbeat it just had, as heard does, with its clock:
	// 45 s behind the true time.
	yNow := time.Now().Add(-45 * time.Second).UTC()
	if err := y.runs.AgentSeen(ctx, api.Agent{Name: "builder", Concurrency: 1, Address: "10.0.0.7", LastSeen: &yNow}); err != nil {
		t.Fatal(err)
	}
	// X, up for an hour, never heard of the agent: it reads the contact.
	x.expireLeases(ctx, time.Now().Add(-time.Hour))
	if r := x.status(t, id); r.Status != api.StatusRunning {
		t.Fatalf("replica X ended the run of an agent that heartbeats to replica Y this very moment: %s %q", r.Status, r.Reason)
	}
}

// leaseHook runs hook before the first lease decision reaches the store:
// it forces the interleaving two replicas produce when one revokes an
// agent while the agent's long poll on the other wakes up.
type leaseHook struct {
	Store
	once sync.Once
	hook func()
}

func (h *leaseHook) LeaseNext(ctx context.Context, agent, tokenHash string, limit int, match func(record.Run) bool) (record.Run, bool, error) {
	h.once.Do(h.hook)
	return h.Store.LeaseNext(ctx, agent, tokenHash, limit, match)
}

// An agent revoked on replica A while its long poll on replica B is
// deciding gets a run and a live run token from B: A ended the runs it
// saw and dropped their tokens, B leased after its own check of the
// agent. The run token then reads the run's spec (and secrets).
func TestAttackRevokedOnOneReplicaLeasesOnAnother(t *testing.T) {
	url := attackPG.DB(t)
	a := replica(t, url, filepath.Join(t.TempDir(), "a"), "", time.Minute)
	b := replica(t, url, filepath.Join(t.TempDir(), "b"), a.dataDir, time.Minute)
	srvA, srvB := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	// B hears A's revocation, as Serve has it do: the agent's waiting
	// lease ends at once, refused.
	listening, stopListening := context.WithCancel(context.Background())
	listened := make(chan struct{})
	go func() { defer close(listened); b.listenPeers(listening) }()
	t.Cleanup(func() { stopListening(); <-listened })
	call := func(url, method, path, token, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	code, out := call(srvA.URL, http.MethodPost, "/v1/agents", a.token, `{"name":"rogue"}`)
	if code != http.StatusCreated {
		t.Fatalf("creating the agent: %d %s", code, out)
	}
	var created api.NewAgentResponse
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	id := b.queue(t, "p", "")
	b.runs = &leaseHook{Store: b.runs, hook: func() {
		if code, out := call(srvA.URL, http.MethodDelete, "/v1/agents/rogue", a.token, ""); code != http.StatusOK {
			t.Errorf("revoking on A: %d %s", code, out)
		}
	}}
	code, out = call(srvB.URL, http.MethodPost, runproto.LeasePath, created.Token, `{"agent":{"name":"rogue","concurrency":1}}`)
	var lease runproto.Lease
	if code == http.StatusOK {
		_ = json.Unmarshal([]byte(out), &lease)
	}
	r := b.status(t, id)
	if lease.RunToken != "" {
		if code, _ := call(srvB.URL, http.MethodGet, "/v1/runs/"+id+"/spec", lease.RunToken, ""); code == http.StatusOK {
			t.Errorf("agent rogue, revoked, got run %s (%s on %q) and its run token reads the spec", id, r.Status, r.Agent)
		}
	}
	if r.Agent == "rogue" && !api.Finished(r.Status) {
		t.Errorf("run %s is %s on the revoked agent rogue", id, r.Status)
	}
}

// failingSilences is a database that cannot say when agents last spoke.
type failingSilences struct{ Store }

func (failingSilences) AgentSilences(context.Context) (map[string]time.Duration, error) {
	return nil, errors.New("connection reset by peer")
}

// A replica that cannot read agents' contacts (a database hiccup) ends
// no run: not knowing is no silence. It had failed every run of every
// agent talking to another replica.
func TestUnreadableContactsEndNoRun(t *testing.T) {
	url := attackPG.DB(t)
	x := replica(t, url, filepath.Join(t.TempDir(), "x"), "", 0)
	id := x.queue(t, "p", "")
	builder := agent("builder", 1)
	if got := x.leaseNow(t, builder); got != id {
		t.Fatalf("lease: %q", got)
	}
	// The agent talks to another replica: this one never heard of it.
	x.agents.mu.Lock()
	delete(x.agents.seen, "builder")
	x.agents.mu.Unlock()
	x.runs = failingSilences{x.runs}
	x.expireLeases(context.Background(), time.Now().Add(-time.Hour))
	if r := x.status(t, id); r.Status != api.StatusProvisioning {
		t.Fatalf("a database hiccup ended the run: %s %q", r.Status, r.Reason)
	}
}
