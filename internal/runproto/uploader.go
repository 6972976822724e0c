package runproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// UploaderOptions configure an Uploader. Server, RunID and Token are
// required; the rest have defaults.
type UploaderOptions struct {
	Server string // the server's base URL
	RunID  string
	Token  string // the run token
	// HTTP sends the requests; nil means a client of its own.
	HTTP *http.Client
	// Logger receives delivery trouble (the runner's own log, not the
	// run's).
	Logger *slog.Logger

	// FlushEvery is the least time between two batches (200 ms), and so
	// how long an event may wait for others to join its batch. A summary,
	// and Close, send at once.
	FlushEvery time.Duration
	// MaxBatchEvents and MaxBatchBytes bound a batch (500 events, 1 MiB of
	// JSON). An event alone over MaxBatchBytes is cut to fit.
	MaxBatchEvents int
	MaxBatchBytes  int
	// MaxBuffered is how many bytes of events may wait unacknowledged
	// (64 MiB) before Emit waits for the server, so that a runner cut off
	// from its server slows its run down rather than dropping its log or
	// running out of memory.
	MaxBuffered int
	// AttemptTimeout bounds one request (30 s).
	AttemptTimeout time.Duration
	// CloseTimeout bounds Close (10 s): what the server has not
	// acknowledged by then is reported undelivered. It must be shorter
	// than the grace the runner's executor gives a cancelled runner (30 s).
	CloseTimeout time.Duration
}

func (o *UploaderOptions) defaults() {
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.FlushEvery, 200*time.Millisecond)
	def(&o.AttemptTimeout, 30*time.Second)
	def(&o.CloseTimeout, 10*time.Second)
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = 500
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 64 << 20
	}
}

// Retries wait from retryMin, doubling up to retryMax.
const (
	retryMin = 250 * time.Millisecond
	retryMax = 5 * time.Second
)

// Uploader sends a run's events to the server: numbered in the order of
// Emit, in batches, one batch in flight at a time, each event kept until
// the server has acknowledged it and sent again until it has. Emit may be
// called from any goroutine, Close after the last Emit (a second Close
// waits for the first and returns the same).
type Uploader struct {
	opts UploaderOptions
	url  string
	run  context.Context // the run's: sending pauses when it ends, until Close
	// life ends the sender: CloseTimeout after Close at the latest.
	life    context.Context
	endLife context.CancelFunc

	mu     sync.Mutex
	seq    int64    // the number of the last event emitted
	queue  []queued // unacknowledged events, in order
	bytes  int      // their encoded size
	urgent bool     // a summary is queued: send without waiting
	// lastSent is when the last batch went out.
	lastSent time.Time
	closing  bool
	broken   error         // the server refused the events for good
	lost     int           // events dropped after broken or after Close
	wake     chan struct{} // capacity 1: something changed for the sender
	room     chan struct{} // closed and replaced when the queue shrinks
	closed   chan struct{} // closed by Close
	done     chan struct{} // closed when the sender has ended
}

type queued struct {
	seq  int64
	data json.RawMessage
}

// NewUploader starts an uploader. Its retries last as long as ctx, the
// run's context; after ctx ends, events wait for Close, which sends them
// within its own deadline.
func NewUploader(ctx context.Context, opts UploaderOptions) *Uploader {
	opts.defaults()
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	u := &Uploader{
		opts: opts, url: strings.TrimSuffix(opts.Server, "/") + EventsPath(opts.RunID), run: ctx, life: life, endLife: endLife,
		wake: make(chan struct{}, 1), room: make(chan struct{}), closed: make(chan struct{}), done: make(chan struct{}),
	}
	go u.send()
	return u
}

// Emit numbers e and queues it. While MaxBuffered bytes are
// unacknowledged it waits, until the run's context ends.
func (u *Uploader) Emit(e api.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for u.bytes >= u.opts.MaxBuffered && u.broken == nil && !u.closing && u.run.Err() == nil {
		room := u.room
		u.mu.Unlock()
		select {
		case <-room:
		case <-u.run.Done():
		case <-u.closed:
		}
		u.mu.Lock()
	}
	if u.broken != nil || u.closing {
		u.lost++
		return
	}
	u.seq++
	e.Seq = u.seq
	data := u.encode(e)
	u.queue = append(u.queue, queued{seq: e.Seq, data: data})
	u.bytes += len(data)
	if e.Type == "summary" {
		u.urgent = true
	}
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// encode marshals e, cutting its message if it would not fit a batch of
// its own: the runner cuts log lines long before that, so this only
// guards against an error message of unforeseen size.
func (u *Uploader) encode(e api.Event) json.RawMessage {
	data, err := json.Marshal(e)
	if err != nil { // only a time beyond year 9999 fails; keep the stream going
		data, _ = json.Marshal(api.Event{Seq: e.Seq, Type: "warning", Message: "an event could not be encoded: " + err.Error()})
	}
	if over := len(data) - (u.opts.MaxBatchBytes - 2); over > 0 && len(e.Message) > 0 {
		keep := max(0, len(e.Message)-over-64)
		e.Message = strings.ToValidUTF8(e.Message[:keep], "") + fmt.Sprintf("… (%d bytes cut)", len(e.Message)-keep)
		data, _ = json.Marshal(e)
	}
	return data
}

// Close sends the events still queued, waiting at most CloseTimeout, and
// stops the uploader. It returns an error if events were not delivered.
func (u *Uploader) Close() error {
	u.mu.Lock()
	if !u.closing {
		u.closing = true
		close(u.closed)
		deadline := time.AfterFunc(u.opts.CloseTimeout, u.endLife)
		defer deadline.Stop()
	}
	u.mu.Unlock()
	<-u.done
	u.endLife()
	u.mu.Lock()
	defer u.mu.Unlock()
	var err error
	switch {
	case u.broken != nil:
		err = fmt.Errorf("the server refused the run's events: %w", u.broken)
	case len(u.queue) > 0:
		err = fmt.Errorf("%d events were not delivered to the server at %s", len(u.queue), u.opts.Server)
	}
	if err != nil && u.lost > 0 {
		err = fmt.Errorf("%w (and %d more were dropped)", err, u.lost)
	}
	return err
}

// send is the one goroutine that talks to the server.
func (u *Uploader) send() {
	defer close(u.done)
	backoff := retryMin
	for {
		b, ok := u.next()
		if !ok {
			return
		}
		ack, err := u.post(b)
		var gap *GapError
		switch {
		case err == nil:
			u.acknowledge(ack)
			backoff = retryMin
			continue
		case errors.As(err, &gap) && gap.Acked+1 < b.first:
			// The server lacks events before these; if they are still
			// queued, the next batch starts with them. (An answer that
			// names no gap is retried below like a failure.)
			if !u.acknowledge(gap.Acked) {
				u.fail(fmt.Errorf("the runner no longer has the events after %d: %w", gap.Acked, err))
			}
			continue
		case isPermanent(err):
			u.fail(err)
			continue
		}
		u.opts.Logger.Warn("sending events failed; retrying", "events", fmt.Sprintf("%d-%d", b.first, b.last), "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-u.life.Done():
		case <-u.closedUnlessClosing():
		}
		backoff = min(2*backoff, retryMax)
	}
}

type batch struct {
	body        []byte
	first, last int64
	final       bool // sent after Close
}

// next waits for a batch to send; ok is false when the sender should end:
// all is sent after Close, the server refused the events, or Close's
// deadline has passed.
func (u *Uploader) next() (b batch, ok bool) {
	for {
		u.mu.Lock()
		if u.broken != nil || u.life.Err() != nil || (u.closing && len(u.queue) == 0) {
			u.mu.Unlock()
			return b, false
		}
		n, size := 0, 2
		for n < len(u.queue) && n < u.opts.MaxBatchEvents && (n == 0 || size+len(u.queue[n].data)+1 <= u.opts.MaxBatchBytes) {
			size += len(u.queue[n].data) + 1
			n++
		}
		// At most one batch every FlushEvery: an event after a quiet spell
		// (a run's first, say) goes at once, a burst waits to join one batch.
		var wait time.Duration
		if n > 0 {
			wait = time.Until(u.lastSent.Add(u.opts.FlushEvery))
		}
		// Between the end of the run's context and Close nothing is sent:
		// the run is ending, and Close sends the rest under its deadline.
		paused := !u.closing && u.run.Err() != nil
		due := u.closing || u.urgent || n < len(u.queue) || n == u.opts.MaxBatchEvents || wait <= 0
		if n > 0 && !paused && due {
			var body bytes.Buffer
			body.Grow(size)
			body.WriteByte('[')
			for i, q := range u.queue[:n] {
				if i > 0 {
					body.WriteByte(',')
				}
				body.Write(q.data)
			}
			body.WriteByte(']')
			b = batch{body: body.Bytes(), first: u.queue[0].seq, last: u.queue[n-1].seq, final: u.closing}
			u.lastSent = time.Now()
			u.mu.Unlock()
			return b, true
		}
		u.mu.Unlock()
		var timer <-chan time.Time
		if n > 0 && !paused {
			timer = time.After(wait)
		}
		var runDone <-chan struct{}
		if !paused {
			runDone = u.run.Done()
		}
		select {
		case <-u.wake:
		case <-timer:
		case <-runDone:
		case <-u.closedUnlessClosing():
		case <-u.life.Done():
		}
	}
}

// closedUnlessClosing is closed by Close, so that a wait ends when sending
// goes on under Close's deadline; once closing it is nil.
func (u *Uploader) closedUnlessClosing() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closing {
		return nil
	}
	return u.closed
}

// acknowledge drops the events up to acked, and reports whether the
// queue now starts right after it.
func (u *Uploader) acknowledge(acked int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for n < len(u.queue) && u.queue[n].seq <= acked {
		u.bytes -= len(u.queue[n].data)
		n++
	}
	if n > 0 {
		u.queue = append(u.queue[:0:0], u.queue[n:]...)
		close(u.room)
		u.room = make(chan struct{})
	}
	if len(u.queue) == 0 {
		u.urgent = false
		return true
	}
	return u.queue[0].seq == acked+1
}

// fail stops sending for good: the server will not take these events.
func (u *Uploader) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.opts.Logger.Error("the server refused the run's events; no more are sent", "err", err, "undelivered", len(u.queue))
	u.broken = err
	close(u.room)
	u.room = make(chan struct{})
}

// post sends one batch and returns the server's acknowledged number. A
// batch sent before Close is bounded by the run's context, one sent after
// by Close's deadline, and each by AttemptTimeout.
func (u *Uploader) post(b batch) (int64, error) {
	ctx, cancel := context.WithTimeout(u.life, u.opts.AttemptTimeout)
	defer cancel()
	if !b.final {
		stop := context.AfterFunc(u.run, cancel)
		defer stop()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url, bytes.NewReader(b.body))
	if err != nil {
		return 0, &permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+u.opts.Token)
	resp, err := u.opts.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, err
	}
	var ack EventsAck
	jsonErr := json.Unmarshal(data, &ack)
	switch {
	case resp.StatusCode == http.StatusOK && jsonErr == nil:
		return ack.Acked, nil
	case resp.StatusCode == http.StatusConflict && jsonErr == nil:
		return 0, &GapError{First: b.first, Acked: ack.Acked}
	}
	msg := ack.Error
	if msg == "" {
		msg = strings.TrimSpace(string(data))
	}
	err = fmt.Errorf("%s: %s", resp.Status, msg)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusRequestTimeout:
		return 0, err
	}
	if resp.StatusCode >= 500 {
		return 0, err
	}
	return 0, &permanentError{err}
}

// permanentError is an answer that sending again will not change.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
