package runproto

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const agentToken = "jwa_test"

// fakeAgentServer answers the agent protocol the way the server does: it
// checks the token and the request, then answers with status; 200 carries
// a Lease or a HeartbeatResponse.
type fakeAgentServer struct {
	*httptest.Server
	status int
	delay  time.Duration
	calls  atomic.Int32
	last   atomic.Value // the last request's body, decoded
}

func newFakeAgentServer(t *testing.T, status int) *fakeAgentServer {
	f := &fakeAgentServer{status: status}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAgentServer) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, `{"error":"want a JSON POST"}`, http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+agentToken {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
		return
	}
	var body any
	switch r.URL.Path {
	case LeasePath:
		var req LeaseRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.last.Store(req)
		body = Lease{RunID: "r1", Project: "hello", RunToken: "jwr_1"}
	case HeartbeatPath:
		var req HeartbeatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.last.Store(req)
		body = HeartbeatResponse{Cancel: []string{"r2"}}
	default:
		http.NotFound(w, r)
		return
	}
	// The body is read, so the request's context ends when the client
	// goes away, as in a long poll of the real server.
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch f.status {
	case http.StatusOK:
		_ = json.NewEncoder(w).Encode(body)
	case http.StatusBadRequest:
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"error":"labels: key \"\" is empty"}`))
	default:
		w.WriteHeader(f.status)
	}
}

// deadURL is a server that refuses connections.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

var testAgent = AgentInfo{Name: "build-1", Labels: map[string]string{"arch": "amd64"}, Version: "v1", Concurrency: 2}

func TestCoordinatorClientLease(t *testing.T) {
	for _, tc := range []struct {
		name string
		// statuses of the servers, in the client's order; 0 is a server
		// that refuses connections, -1 one that answers too late.
		statuses []int
		token    string
		want     *Lease
		wantErr  string // a part of the error; "" for none
		refused  bool   // errors.Is ErrAgentRefused
		calls    []int32
		startAt  int // index of the server current before
		current  int // index of the server current afterwards
	}{
		{name: "a run", statuses: []int{200}, want: &Lease{RunID: "r1", Project: "hello", RunToken: "jwr_1"}, calls: []int32{1}},
		{name: "nothing within the wait", statuses: []int{204}, calls: []int32{1}},
		{name: "a refused token stops at the first server", statuses: []int{200, 200}, token: "jwa_revoked", refused: true, wantErr: "revoked", calls: []int32{1, 0}},
		{name: "a bad request is a refusal, and no reason to move", statuses: []int{400, 200}, refused: true, wantErr: `refused this agent: 400 Bad Request: labels: key "" is empty`, calls: []int32{1, 0}},
		{name: "a 500 moves to the next server", statuses: []int{500, 200}, want: &Lease{RunID: "r1", Project: "hello", RunToken: "jwr_1"}, calls: []int32{1, 1}, current: 1},
		{name: "a 503 then a 204", statuses: []int{503, 204}, calls: []int32{1, 1}, current: 1},
		{name: "a refused connection moves to the next server", statuses: []int{0, 200}, want: &Lease{RunID: "r1", Project: "hello", RunToken: "jwr_1"}, calls: []int32{0, 1}, current: 1},
		{name: "a silent server moves to the next", statuses: []int{-1, 200}, want: &Lease{RunID: "r1", Project: "hello", RunToken: "jwr_1"}, calls: []int32{1, 1}, current: 1},
		{name: "the last server fails over to the first", statuses: []int{200, 500}, startAt: 1, want: &Lease{RunID: "r1", Project: "hello", RunToken: "jwr_1"}, calls: []int32{1, 1}},
		{name: "every server down", statuses: []int{500, 0, 502}, wantErr: "unavailable", calls: []int32{1, 0, 1}},
		{name: "an older server", statuses: []int{404}, wantErr: "does not know /v1/agent/lease (404)", calls: []int32{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var urls []string
			fakes := make([]*fakeAgentServer, len(tc.statuses))
			for i, st := range tc.statuses {
				switch st {
				case 0:
					urls = append(urls, deadURL(t))
				case 404:
					f := newFakeAgentServer(t, 200)
					fakes[i] = f
					urls = append(urls, f.URL+"/not-jetway")
				default:
					f := newFakeAgentServer(t, st)
					if st == -1 {
						f.status, f.delay = 200, time.Minute
					}
					fakes[i] = f
					urls = append(urls, f.URL+"/") // a trailing slash is fine
				}
			}
			token := agentToken
			if tc.token != "" {
				token = tc.token
			}
			c := NewCoordinatorClient(urls, token, WithTimeouts(300*time.Millisecond, time.Second))
			c.use(tc.startAt)
			got, err := c.Lease(context.Background(), LeaseRequest{Agent: testAgent, Running: []string{"r0"}})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrAgentRefused) != tc.refused {
				t.Errorf("errors.Is(%v, ErrAgentRefused) = %v", err, !tc.refused)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("lease = %+v, want %+v", got, tc.want)
			}
			for i, f := range fakes {
				if f == nil {
					continue
				}
				if n := f.calls.Load(); n != tc.calls[i] {
					t.Errorf("server %d got %d requests, want %d", i, n, tc.calls[i])
				}
				if req, ok := f.last.Load().(LeaseRequest); ok {
					if !reflect.DeepEqual(req, LeaseRequest{Agent: testAgent, Running: []string{"r0"}}) {
						t.Errorf("server %d got %+v", i, req)
					}
				}
			}
			if got, want := c.CurrentServer(), strings.TrimSuffix(urls[tc.current], "/"); got != want {
				t.Errorf("current server = %s, want %s", got, want)
			}
		})
	}
}

func TestCoordinatorClientHeartbeat(t *testing.T) {
	down, up := newFakeAgentServer(t, 500), newFakeAgentServer(t, 200)
	c := NewCoordinatorClient([]string{down.URL, up.URL}, agentToken)
	req := HeartbeatRequest{Agent: testAgent, Running: []string{"r1", "r2"}}
	for range 2 {
		resp, err := c.Heartbeat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(resp.Cancel, []string{"r2"}) {
			t.Errorf("cancel = %v", resp.Cancel)
		}
	}
	if got := up.last.Load(); !reflect.DeepEqual(got, req) {
		t.Errorf("the server got %+v, want %+v", got, req)
	}
	// The second heartbeat went straight to the server that answered.
	if down.calls.Load() != 1 || up.calls.Load() != 2 {
		t.Errorf("requests: %d to the failing server, %d to the other; want 1 and 2", down.calls.Load(), up.calls.Load())
	}
	if c.CurrentServer() != up.URL {
		t.Errorf("current server = %s, want %s", c.CurrentServer(), up.URL)
	}
}

// A cancelled long poll (the agent drains) ends at once and is not taken
// for a server that failed.
func TestCoordinatorClientLeaseCancelled(t *testing.T) {
	slow, other := newFakeAgentServer(t, 200), newFakeAgentServer(t, 200)
	slow.delay = time.Minute
	c := NewCoordinatorClient([]string{slow.URL, other.URL}, agentToken)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	lease, err := c.Lease(ctx, LeaseRequest{Agent: testAgent})
	if !errors.Is(err, context.Canceled) || lease != nil {
		t.Fatalf("Lease = %v, %v; want context.Canceled", lease, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the cancelled lease returned after %s", d)
	}
	if other.calls.Load() != 0 || c.CurrentServer() != slow.URL {
		t.Errorf("a cancelled request moved to the next server")
	}
}

func TestCoordinatorClientDefaultLeaseTimeoutOutlastsTheWait(t *testing.T) {
	c := NewCoordinatorClient([]string{"http://x"}, agentToken)
	if c.leaseTimeout <= LeaseWait {
		t.Errorf("lease timeout %s does not exceed LeaseWait %s: every idle long poll would fail", c.leaseTimeout, LeaseWait)
	}
}
