package runproto

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// fakeServer serves the events route with the real server half over a
// memStore, and misbehaves on demand.
type fakeServer struct {
	st  *memStore
	url string

	// down makes it cut every connection without an answer, as a server
	// that is unreachable or restarting.
	down atomic.Bool
	// dropAnswer, if set, is asked per request (numbered from 1): true
	// stores the batch, then cuts the connection without the answer.
	dropAnswer func(n int) bool
	// hold, if set, is asked per request: true holds it without an answer
	// until the client gives up on it.
	hold func(n int) bool
	// status, if not 0, is answered instead of storing.
	status int

	mu          sync.Mutex
	requests    int
	inFlight    int
	maxInFlight int
	batches     [][]api.Event // as received
	maxBody     int
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{st: &memStore{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if r.URL.Path != EventsPath("r1") || r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, "wrong path or token", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var batch []api.Event
	_ = json.Unmarshal(body, &batch)
	f.mu.Lock()
	f.batches = append(f.batches, batch)
	f.maxBody = max(f.maxBody, len(body))
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch {
	case f.down.Load():
		cut(w)
	case f.hold != nil && f.hold(n):
		<-r.Context().Done()
	case f.status != 0:
		answer(w, f.status, EventsAck{Error: "no"})
	case f.dropAnswer != nil && f.dropAnswer(n):
		HandleEvents(httptest.NewRecorder(), r, f.st, "r1", nil)
		cut(w)
	default:
		HandleEvents(w, r, f.st, "r1", nil)
	}
}

// cut closes the connection without an answer.
func cut(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (f *fakeServer) stats() (requests, maxInFlight int, batches [][]api.Event, maxBody int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.maxInFlight, append([][]api.Event(nil), f.batches...), f.maxBody
}

func (f *fakeServer) uploader(ctx context.Context, opts UploaderOptions) *Uploader {
	opts.Server, opts.RunID, opts.Token = f.url, "r1", "tok"
	if opts.FlushEvery == 0 {
		opts.FlushEvery = 10 * time.Millisecond
	}
	return NewUploader(ctx, opts)
}

func wantLog(t *testing.T, f *fakeServer, lines []string) {
	t.Helper()
	want := strings.Join(lines, "\n") + "\n"
	if got := f.st.String(); got != want {
		t.Errorf("stored log:\n%.2000s\nwant:\n%.2000s", got, want)
	}
}

// TestUploaderConcurrentEmit: goroutines emit at once (run with -race);
// every event arrives once, each goroutine's in its order, with one batch
// in flight at a time and batches in sequence.
func TestUploaderConcurrentEmit(t *testing.T) {
	f := newFakeServer(t)
	u := f.uploader(context.Background(), UploaderOptions{FlushEvery: time.Millisecond, MaxBatchEvents: 7})
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u.Emit(api.Event{Type: "log", Message: fmt.Sprintf("g%d %d", g, i)})
			}
		}()
	}
	wg.Wait()
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(f.st.String(), "\n"), "\n")
	if len(lines) != goroutines*each {
		t.Fatalf("%d lines stored, want %d", len(lines), goroutines*each)
	}
	next := make([]int, goroutines)
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d %d", &g, &i); err != nil || i != next[g] {
			t.Fatalf("line %q out of order (want g%d %d)", l, g, next[g])
		}
		next[g]++
	}
	_, inFlight, batches, _ := f.stats()
	if inFlight != 1 {
		t.Errorf("%d batches were in flight at once", inFlight)
	}
	var seq int64
	for _, b := range batches {
		if len(b) > 7 {
			t.Errorf("a batch of %d events, the limit is 7", len(b))
		}
		for _, e := range b {
			if e.Seq != seq+1 {
				t.Fatalf("event %d sent after %d", e.Seq, seq)
			}
			seq = e.Seq
		}
	}
}

// TestUploaderResendsWhenAnswersAreLost: the server stores every other
// batch and then loses its answer; the uploader sends those again and
// nothing is stored twice or lost.
func TestUploaderResendsWhenAnswersAreLost(t *testing.T) {
	f := newFakeServer(t)
	f.dropAnswer = func(n int) bool { return n%2 == 1 }
	u := f.uploader(context.Background(), UploaderOptions{MaxBatchEvents: 10})
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprint("line ", i))
		u.Emit(api.Event{Type: "log", Message: lines[i]})
		if i%25 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	wantLog(t, f, lines)
	requests, _, batches, _ := f.stats()
	resent := 0
	for i := 1; i < len(batches); i++ {
		if len(batches[i]) > 0 && len(batches[i-1]) > 0 && batches[i][0].Seq <= batches[i-1][len(batches[i-1])-1].Seq {
			resent++
		}
	}
	if resent == 0 {
		t.Errorf("no batch was sent again in %d requests", requests)
	}
}

// TestUploaderBuffersWhileServerIsDown: events emitted while the server
// cuts every connection are kept and delivered once it is back.
func TestUploaderBuffersWhileServerIsDown(t *testing.T) {
	f := newFakeServer(t)
	f.down.Store(true)
	u := f.uploader(context.Background(), UploaderOptions{})
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprint("line ", i))
		u.Emit(api.Event{Type: "log", Message: lines[i]})
	}
	eventually(t, "a second attempt while the server is down", func() bool {
		requests, _, _, _ := f.stats()
		return requests >= 2
	})
	f.down.Store(false)
	u.Emit(api.Event{Type: "summary", Summary: &api.Summary{RunID: "r1", Status: api.StatusSucceeded}})
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.st.String(), "line 49\n") || !strings.Contains(f.st.String(), "run r1 succeeded") {
		t.Errorf("stored log: %q", f.st.String())
	}
}

// TestUploaderBatchBytes: batches stay within MaxBatchBytes, and an event
// too big for any batch is cut to fit instead of being refused.
func TestUploaderBatchBytes(t *testing.T) {
	f := newFakeServer(t)
	const limit = 64 << 10
	u := f.uploader(context.Background(), UploaderOptions{MaxBatchBytes: limit})
	line := strings.Repeat("\x1b", 4<<10) // JSON writes each as \u001b: 24 KiB
	for range 20 {
		u.Emit(api.Event{Type: "log", Message: line})
	}
	u.Emit(api.Event{Type: "error", Message: strings.Repeat("e", 200<<10)})
	u.Emit(api.Event{Type: "log", Message: "after"})
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, batches, maxBody := f.stats()
	if maxBody > limit {
		t.Errorf("a batch of %d bytes, the limit is %d", maxBody, limit)
	}
	if len(batches) < 10 {
		t.Errorf("%d batches for 20 events of 24 KiB in batches of 64 KiB", len(batches))
	}
	log := f.st.String()
	if !strings.Contains(log, "bytes cut)") || !strings.HasSuffix(log, "\nafter\n") {
		t.Errorf("the big event was not cut, or what followed was lost: ...%q", log[max(0, len(log)-200):])
	}
}

// TestUploaderRetriesEndWithTheRun: a request the server never answers is
// abandoned when the run's context ends (not after AttemptTimeout), and
// Close delivers the events within its own deadline.
func TestUploaderRetriesEndWithTheRun(t *testing.T) {
	f := newFakeServer(t)
	f.hold = func(n int) bool { return n == 1 }
	ctx, cancel := context.WithCancel(context.Background())
	u := f.uploader(ctx, UploaderOptions{AttemptTimeout: time.Hour, CloseTimeout: 5 * time.Second})
	u.Emit(api.Event{Type: "log", Message: "one"})
	eventually(t, "the held request", func() bool {
		requests, _, _, _ := f.stats()
		return requests > 0
	})
	cancel()
	u.Emit(api.Event{Type: "log", Message: "two"})
	start := time.Now()
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s", d)
	}
	wantLog(t, f, []string{"one", "two"})
}

// TestUploaderCloseDeadline: with the server gone for good, Close gives
// up after CloseTimeout and says how many events were not delivered.
func TestUploaderCloseDeadline(t *testing.T) {
	f := newFakeServer(t)
	f.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	u := f.uploader(ctx, UploaderOptions{CloseTimeout: 300 * time.Millisecond})
	for range 3 {
		u.Emit(api.Event{Type: "log", Message: "x"})
	}
	cancel()
	start := time.Now()
	err := u.Close()
	if err == nil || !strings.Contains(err.Error(), "3 events were not delivered") {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s with a deadline of 300ms", d)
	}
}

// TestUploaderStopsWhenRefused: an answer that sending again cannot
// change (a run token the server no longer knows) stops the uploader
// instead of retrying, and Emit does not block after it.
func TestUploaderStopsWhenRefused(t *testing.T) {
	f := newFakeServer(t)
	f.status = http.StatusUnauthorized
	u := f.uploader(context.Background(), UploaderOptions{MaxBuffered: 1})
	u.Emit(api.Event{Type: "log", Message: "x"})
	done := make(chan struct{})
	go func() {
		for range 100 {
			u.Emit(api.Event{Type: "log", Message: "y"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Emit blocks after the server refused the events")
	}
	err := u.Close()
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Close: %v", err)
	}
	if requests, _, _, _ := f.stats(); requests != 1 {
		t.Errorf("%d requests after a refusal", requests)
	}
}

// TestUploaderSummaryAtOnce: the summary does not wait for FlushEvery.
func TestUploaderSummaryAtOnce(t *testing.T) {
	f := newFakeServer(t)
	u := f.uploader(context.Background(), UploaderOptions{FlushEvery: time.Hour})
	defer u.Close()
	u.Emit(api.Event{Type: "log", Message: "last line"})
	u.Emit(api.Event{Type: "summary", Summary: &api.Summary{RunID: "r1", Status: api.StatusFailed}})
	eventually(t, "the summary", func() bool { return strings.Contains(f.st.String(), "run r1 failed") })
}

// An event after a quiet spell (a run's first) goes at once: it does not
// wait for FlushEvery (an hour).
func TestUploaderSendsAfterQuietAtOnce(t *testing.T) {
	f := newFakeServer(t)
	u := f.uploader(context.Background(), UploaderOptions{FlushEvery: time.Hour})
	defer u.Close()
	u.Emit(api.Event{Type: "log", Message: "first"})
	eventually(t, "the first event", func() bool { return strings.Contains(f.st.String(), "first") })
}

// The events of a burst right after a batch wait FlushEvery to share one
// batch: the second event arrives, no sooner than FlushEvery after the
// first's batch (which left after the first was emitted).
func TestUploaderBatchesBursts(t *testing.T) {
	const flushEvery = 300 * time.Millisecond
	f := newFakeServer(t)
	u := f.uploader(context.Background(), UploaderOptions{FlushEvery: flushEvery})
	defer u.Close()
	start := time.Now()
	u.Emit(api.Event{Type: "log", Message: "first"})
	eventually(t, "the first event", func() bool { return strings.Contains(f.st.String(), "first") })
	u.Emit(api.Event{Type: "log", Message: "second"})
	eventually(t, "the second event", func() bool { return strings.Contains(f.st.String(), "second") })
	if took := time.Since(start); took < flushEvery {
		t.Fatalf("an event right after a batch arrived %s after the first was emitted; it waits FlushEvery (%s)", took, flushEvery)
	}
}

// eventually polls cond until it holds, for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}
