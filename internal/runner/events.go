package runner

import (
	"bytes"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/build"
)

// Event is one thing a run reports: a log line, a phase starting or ending,
// a bootstrap step, a build step, the summary. Every text in it has passed
// the masker.
type Event struct {
	Type     string        `json:"type"` // log, bootstrap, phase_started, phase_finished, step, warning, summary
	Time     time.Time     `json:"time"`
	Phase    string        `json:"phase,omitempty"`
	Status   string        `json:"status,omitempty"`
	Message  string        `json:"message,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Step     *build.Step   `json:"step,omitempty"`
	Summary  *Summary      `json:"summary,omitempty"`
}

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
