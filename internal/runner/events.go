package runner

import (
	"bytes"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// Event is a run's report; see api.Event.
type Event = api.Event

// Sink receives a run's events in order. Emit is called from one goroutine
// at a time.
type Sink interface {
	Emit(Event)
}

// lineWriter turns the masked byte stream into log events, a line each.
// A partial line waits for its end, or for Flush.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	phase string
	emit  func(Event)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(Event{Type: "log", Time: time.Now(), Phase: w.phase, Message: string(w.buf[:i])})
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush emits a partial last line.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(Event{Type: "log", Time: time.Now(), Phase: w.phase, Message: string(w.buf)})
		w.buf = nil
	}
}

func (w *lineWriter) setPhase(p string) {
	w.mu.Lock()
	w.phase = p
	w.mu.Unlock()
}
