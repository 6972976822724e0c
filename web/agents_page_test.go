package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// createAgent makes an agent's token through the API, allowing the
// labels the tests' agents claim.
func createAgent(t *testing.T, base, token, name string) string {
	t.Helper()
	var resp api.NewAgentResponse
	allowed := map[string]string{"pool": "builders", "gpu": "yes"}
	if err := apiclient.New(base, token).Do(context.Background(), http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: name, Labels: allowed}, &resp); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Token, "jwa_") {
		t.Fatalf("agent token %q", resp.Token)
	}
	return resp.Token
}

// heartbeat speaks as the agent whose token agentToken is, running nothing.
func heartbeat(t *testing.T, base, agentToken string, info runproto.AgentInfo) {
	t.Helper()
	var resp runproto.HeartbeatResponse
	req := runproto.HeartbeatRequest{Agent: info, Running: []string{}}
	if err := apiclient.New(base, agentToken).Do(context.Background(), http.MethodPost, runproto.HeartbeatPath, nil, req, &resp); err != nil {
		t.Fatal(err)
	}
}

// rowOf returns the table row with the id.
func rowOf(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<tr id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no row %s in:\n%s", id, page)
	}
	end := strings.Index(page[start:], "</tr>")
	return page[start : start+end]
}

// stream is a server-sent event stream of the dashboard, read as a browser
// reads one.
type stream struct {
	r      *bufio.Reader
	cancel context.CancelFunc
}

type event struct{ typ, data string }

func openStream(t *testing.T, c *http.Client, u string) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &stream{r: bufio.NewReader(resp.Body), cancel: cancel}
}

// next reads the next event (these streams write one data line each).
func (s *stream) next(t *testing.T) event {
	t.Helper()
	var ev event
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.data != "":
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// until reads events until one of type typ satisfies ok.
func (s *stream) until(t *testing.T, typ string, ok func(data string) bool) string {
	t.Helper()
	for {
		if ev := s.next(t); ev.typ == typ && ok(ev.data) {
			return ev.data
		}
	}
}

// agentsEvent is the rows an "agents" event carries.
func agentsEvent(t *testing.T, data string) string {
	t.Helper()
	var ev struct{ Rows string }
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatalf("agents event %q: %v", data, err)
	}
	return ev.Rows
}

var seenCell = regexp.MustCompile(`<td class="seen" data-age-ms="(\d+)" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ">(\d+)s ago</td>`)

func TestAgentsPage(t *testing.T) {
	const lease = 1500 * time.Millisecond
	base, token := servertest.Start(t, server.Options{DataDir: filepath.Join(t.TempDir(), "data"), LeaseTimeout: lease})
	c := signIn(t, base, token)

	resp, body := get(t, c, base+"/agents")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<a href="/agents">Agents</a>`) || strings.Contains(body, `<tr id="agent-`) ||
		!strings.Contains(body, `<p class="empty" id="no-agents" >No agents.`) || !strings.Contains(body, "An agent silent for 1.5s is offline") ||
		!strings.Contains(body, `data-lease-ms="1500"`) {
		t.Fatalf("agents page without agents: %d\n%s", resp.StatusCode, body)
	}

	b1 := createAgent(t, base, token, "b1")
	createAgent(t, base, token, "b2")
	gone := createAgent(t, base, token, "gone")
	heartbeat(t, base, b1, runproto.AgentInfo{Name: "b1", Labels: map[string]string{"pool": "builders", "arch": "amd64"}, Version: "test-1.2", Concurrency: 2})
	heartbeat(t, base, gone, runproto.AgentInfo{Name: "gone", Concurrency: 1})
	if err := apiclient.New(base, token).Do(context.Background(), http.MethodDelete, "/v1/agents/gone", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, c, base+"/agents")
	if !strings.Contains(body, `id="no-agents" hidden>`) {
		t.Error("the page says there are no agents")
	}
	row := rowOf(t, body, "agent-b1")
	for _, want := range []string{`class="online"`, `<span class="status online">online</span>`, `<strong>b1</strong>`,
		`<span class="chip">arch=amd64</span><span class="chip">pool=builders</span>`, "<td>test-1.2</td>", "<td>127.0.0.1</td>", "<td>2</td>",
		`<td class="running">-</td>`} {
		if !strings.Contains(row, want) {
			t.Errorf("b1's row lacks %s:\n%s", want, row)
		}
	}
	if m := seenCell.FindStringSubmatch(row); m == nil || m[2] != "0" && m[2] != "1" {
		t.Errorf("b1's last seen is not a second ago:\n%s", row)
	}
	if row := rowOf(t, body, "agent-b2"); !strings.Contains(row, `<span class="status new">never seen</span>`) || !strings.Contains(row, `<td class="seen">never</td>`) {
		t.Errorf("b2, never seen:\n%s", row)
	}
	if row := rowOf(t, body, "agent-gone"); !strings.Contains(row, `<span class="status revoked">revoked</span>`) {
		t.Errorf("a revoked agent:\n%s", row)
	}

	// Silent for the lease timeout, b1 is offline.
	time.Sleep(lease)
	_, body = get(t, c, base+"/agents")
	if row := rowOf(t, body, "agent-b1"); !strings.Contains(row, `<span class="status offline">offline</span>`) {
		t.Errorf("b1 silent for the lease timeout:\n%s", row)
	}

	// The stream starts with the table and the ages, then says what
	// changes.
	s := openStream(t, c, base+"/agents/events")
	first := s.next(t)
	if first.typ != "agents" {
		t.Fatalf("first event %+v", first)
	}
	rows := agentsEvent(t, first.data)
	for _, want := range []string{`<tr id="agent-b1" class="offline"`, `<span class="chip">pool=builders</span>`, `<tr id="agent-b2" class="new"`, `<tr id="agent-gone" class="revoked"`} {
		if !strings.Contains(rows, want) {
			t.Errorf("the first agents event lacks %s:\n%s", want, rows)
		}
	}
	seen := s.next(t)
	var ages map[string]int64
	if err := json.Unmarshal([]byte(seen.data), &ages); seen.typ != "seen" || err != nil || len(ages) != 1 || ages["b1"] < lease.Milliseconds() {
		t.Fatalf("seen event %+v (%v)", seen, err)
	}
	b3 := createAgent(t, base, token, "b3")
	s.until(t, "agents", func(data string) bool {
		return strings.Contains(agentsEvent(t, data), `<tr id="agent-b3" class="new"`)
	})
	heartbeat(t, base, b3, runproto.AgentInfo{Name: "b3", Labels: map[string]string{"gpu": "yes"}, Concurrency: 1})
	s.until(t, "agents", func(data string) bool {
		rows := agentsEvent(t, data)
		return strings.Contains(rows, `<tr id="agent-b3" class="online"`) && strings.Contains(rows, `<span class="chip">gpu=yes</span>`)
	})
	s.until(t, "seen", func(data string) bool {
		var ages map[string]int64
		return json.Unmarshal([]byte(data), &ages) == nil && ages["b3"] < lease.Milliseconds() && ages["b1"] >= lease.Milliseconds()
	})
}

// A queued run says why it waits, on the list and on its page; a leased
// one names its agent, and its page learns it live.
func TestRunsShowAgentAndReason(t *testing.T) {
	base, token, ids := newServer(t)
	c := signIn(t, base, token)
	// The server says why a run waits within a second or so.
	var why string
	for deadline := time.Now().Add(10 * time.Second); why == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never says why the runs wait")
		}
		var run api.Run
		if err := apiclient.New(base, token).Do(context.Background(), http.MethodGet, "/v1/runs/"+ids[0], nil, nil, &run); err != nil {
			t.Fatal(err)
		}
		why = run.Reason
	}
	_, body := get(t, c, base+"/")
	if row := rowOf(t, body, "run-"+ids[0]); !strings.Contains(row, `<td class="agent"><span class="reason">`+html.EscapeString(why)+`</span></td>`) {
		t.Errorf("a queued run's row does not say %q:\n%s", why, row)
	}
	_, body = get(t, c, base+"/runs/"+ids[0])
	if !regexp.MustCompile(`<dt id="run-reason-label"\s*>Waits</dt><dd id="run-reason"\s*>`+regexp.QuoteMeta(html.EscapeString(why))+`</dd>`).MatchString(body) ||
		!strings.Contains(body, `<dd id="run-agent">-</dd>`) {
		t.Errorf("a queued run's page:\n%s", body)
	}

	// Its page's stream starts with the run, then follows it to an agent.
	s := openStream(t, c, base+"/events?run="+ids[0])
	var r struct{ ID, Status, Agent, Reason, Waits string }
	if err := json.Unmarshal([]byte(s.until(t, "run", func(string) bool { return true })), &r); err != nil ||
		r.ID != ids[0] || r.Status != api.StatusQueued || r.Waits != why || r.Agent != "" {
		t.Fatalf("first run event %+v (%v)", r, err)
	}
	b1 := createAgent(t, base, token, "b1")
	var lease runproto.Lease
	req := runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: "b1", Concurrency: 1}, Running: []string{}}
	if err := apiclient.New(base, b1).Do(context.Background(), http.MethodPost, runproto.LeasePath, nil, req, &lease); err != nil {
		t.Fatal(err)
	}
	if lease.RunID != ids[0] {
		t.Fatalf("b1 leased %+v, not the oldest run %s", lease, ids[0])
	}
	if err := json.Unmarshal([]byte(s.until(t, "run", func(string) bool { return true })), &r); err != nil ||
		r.ID != ids[0] || r.Status != api.StatusProvisioning || r.Agent != "b1" || r.Reason != "" || r.Waits != "" {
		t.Fatalf("run event after the lease %+v (%v)", r, err)
	}
	_, body = get(t, c, base+"/")
	if row := rowOf(t, body, "run-"+ids[0]); !strings.Contains(row, `<td class="agent"><a href="/agents#agent-b1">b1</a></td>`) {
		t.Errorf("a leased run's row:\n%s", row)
	}
	_, body = get(t, c, base+"/runs/"+ids[0])
	if !strings.Contains(body, `<dd id="run-agent"><a href="/agents#agent-b1">b1</a></dd>`) || !strings.Contains(body, `<dd id="run-reason" hidden></dd>`) {
		t.Errorf("a leased run's page:\n%s", body)
	}
	_, body = get(t, c, base+"/agents")
	if row := rowOf(t, body, "agent-b1"); !strings.Contains(row, `<td class="running"><a href="/runs/`+ids[0]+`">`+ids[0]+`</a> </td>`) {
		t.Errorf("b1's row does not link its run:\n%s", row)
	}
}
