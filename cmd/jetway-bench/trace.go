package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// tracer is a reverse proxy in front of a server that records when an
// agent's and its runners' requests pass it: when the agent got each
// lease, when it asked for the next one, when a runner asked for its spec
// and got its bundle, and the events it sent with the runner's own time
// stamps. It serves the breakdowns only: no headline figure passes
// through it. Every process is on this machine, so all clocks are one.
type tracer struct {
	url   string
	srv   *http.Server
	proxy *httputil.ReverseProxy

	mu        sync.Mutex
	leaseAsks []time.Time                    // lease requests, as they arrived
	leased    map[string]time.Time           // run → its lease answer came back from the server
	spec      map[string]time.Time           // run → its runner asked for the spec
	bundle    map[string]time.Time           // run → the bundle's last byte passed
	posts     map[string][]time.Time         // run → each events request arrived
	events    map[string][]api.Event         // run → the events sent (resent ones twice)
	eventAt   map[string]map[int64]time.Time // run → sequence number → when it first arrived
}

// startTracer listens on host (which the agent must reach) and forwards to
// target.
func startTracer(host, target string) (*tracer, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	t := &tracer{url: "http://" + l.Addr().String(), leased: map[string]time.Time{}, spec: map[string]time.Time{},
		bundle: map[string]time.Time{}, posts: map[string][]time.Time{}, events: map[string][]api.Event{},
		eventAt: map[string]map[int64]time.Time{}}
	t.proxy = httputil.NewSingleHostReverseProxy(u)
	t.proxy.FlushInterval = -1
	t.proxy.ModifyResponse = t.response
	t.proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Context().Err() == nil { // not an agent's long poll ended by its drain
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}
	t.srv = &http.Server{Handler: t}
	go t.srv.Serve(l)
	return t, nil
}

func (t *tracer) close() { t.srv.Shutdown(context.Background()) }

// runOf is the run id in /v1/runs/{id}/….
func runOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/runs/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

func (t *tracer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	id := runOf(r.URL.Path)
	switch {
	case r.URL.Path == runproto.LeasePath:
		t.mu.Lock()
		t.leaseAsks = append(t.leaseAsks, now)
		t.mu.Unlock()
	case strings.HasSuffix(r.URL.Path, "/spec"):
		t.mu.Lock()
		t.spec[id] = now
		t.mu.Unlock()
	case strings.HasSuffix(r.URL.Path, "/events") && r.Method == http.MethodPost:
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var batch []api.Event
		_ = json.Unmarshal(body, &batch)
		t.mu.Lock()
		t.posts[id] = append(t.posts[id], now)
		if t.eventAt[id] == nil {
			t.eventAt[id] = map[int64]time.Time{}
		}
		for _, e := range batch {
			if _, ok := t.eventAt[id][e.Seq]; !ok {
				t.eventAt[id][e.Seq] = now
				t.events[id] = append(t.events[id], e)
			}
		}
		t.mu.Unlock()
	}
	t.proxy.ServeHTTP(w, r)
}

// response records a lease's answer and the end of a bundle.
func (t *tracer) response(resp *http.Response) error {
	path := resp.Request.URL.Path
	switch {
	case path == runproto.LeasePath && resp.StatusCode == http.StatusOK:
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		now := time.Now()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var lease runproto.Lease
		if json.Unmarshal(body, &lease) == nil {
			t.mu.Lock()
			t.leased[lease.RunID] = now
			t.mu.Unlock()
		}
	case strings.HasSuffix(path, "/bundle"):
		resp.Body = &eofReader{ReadCloser: resp.Body, at: func(at time.Time) {
			t.mu.Lock()
			t.bundle[runOf(path)] = at
			t.mu.Unlock()
		}}
	}
	return nil
}

// eofReader calls at when its reader reaches the end.
type eofReader struct {
	io.ReadCloser
	at   func(time.Time)
	once sync.Once
}

func (r *eofReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err == io.EOF {
		r.once.Do(func() { r.at(time.Now()) })
	}
	return n, err
}

// timeline is what the tracer saw of one run.
type timeline struct {
	leased     time.Time   // the agent got the lease
	spec       time.Time   // the runner asked for its spec
	bundle     time.Time   // the runner had its bundle
	events     []api.Event // in order, with the runner's time stamps
	arrived    []time.Time // when each event reached the tracer
	nextLeased time.Time   // the agent asked for its next run (its slot was free)
}

func (t *tracer) timeline(id string) timeline {
	t.mu.Lock()
	defer t.mu.Unlock()
	tl := timeline{leased: t.leased[id], spec: t.spec[id], bundle: t.bundle[id], events: append([]api.Event(nil), t.events[id]...)}
	for _, e := range tl.events {
		tl.arrived = append(tl.arrived, t.eventAt[id][e.Seq])
	}
	if n := len(tl.arrived); n > 0 {
		last := tl.arrived[n-1]
		for _, at := range t.leaseAsks {
			if at.After(last) {
				tl.nextLeased = at
				break
			}
		}
	}
	return tl
}

// first returns the first event matching f and when it reached the tracer.
func (tl timeline) first(f func(api.Event) bool) (api.Event, time.Time, bool) {
	for i, e := range tl.events {
		if f(e) {
			return e, tl.arrived[i], true
		}
	}
	return api.Event{}, time.Time{}, false
}
