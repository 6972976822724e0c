package runner

import (
	"bytes"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jetway-dev/jetway/internal/api"
)

// Event is a run's report; see api.Event.
type Event = api.Event

// Sink receives a run's events in order. Emit is called from one goroutine
// at a time.
type Sink interface {
	Emit(Event)
}

// MaxLineBytes is the longest log event the runner emits. A longer line is
// cut into pieces of at most this size, each but the last marked
// Continued, so a phase that prints 70 MB without a newline costs neither
// the runner's memory nor the server's request limit, and what it prints
// after still arrives.
const MaxLineBytes = 64 << 10

// lineWriter turns the masked byte stream into log events, a line each.
// A partial line waits for its end, for Flush, or until it reaches max
// bytes, when its first max bytes go out as a continued piece.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	phase string
	emit  func(Event)
	max   int // MaxLineBytes when 0
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	limit := w.max
	if limit <= 0 {
		limit = MaxLineBytes
	}
	w.buf = append(w.buf, p...)
	rest := w.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i >= 0 && i <= limit {
			w.emitLine(rest[:i], false)
			rest = rest[i+1:]
			continue
		}
		if len(rest) <= limit {
			break
		}
		n := cut(rest, limit)
		w.emitLine(rest[:n], true)
		rest = rest[n:]
	}
	// Keep only the partial line; a large write's array is let go rather
	// than pinned for the rest of the run.
	if cap(w.buf) > 4*limit {
		w.buf = bytes.Clone(rest)
	} else {
		w.buf = append(w.buf[:0], rest...)
	}
	return len(p), nil
}

// cut returns where to cut b to at most limit bytes: before a UTF-8
// sequence that would straddle the cut, so each piece stays valid text
// (JSON would otherwise turn the halves into U+FFFD).
func cut(b []byte, limit int) int {
	for n := limit; n > limit-utf8.UTFMax && n > 0; n-- {
		if utf8.RuneStart(b[n]) {
			return n
		}
	}
	return limit
}

func (w *lineWriter) emitLine(line []byte, continued bool) {
	w.emit(Event{Type: "log", Time: time.Now(), Phase: w.phase, Message: string(line), Continued: continued})
}

// Flush emits a partial last line.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emitLine(w.buf, false)
		w.buf = nil
	}
}

func (w *lineWriter) setPhase(p string) {
	w.mu.Lock()
	w.phase = p
	w.mu.Unlock()
}
