// Package httpstatus records the status code a handler answers with, for
// middleware that acts on it (the server's audit log, its HTTP metrics).
// The recorder keeps what the writer beneath can do: it flushes (log
// streams) and unwraps (http.ResponseController: read deadlines,
// hijacking).
package httpstatus

import "net/http"

// Recorder is an http.ResponseWriter that keeps the status code written
// through it.
type Recorder struct {
	http.ResponseWriter
	code int
}

// New wraps w.
func New(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// Status is the status code answered: 200 when the handler wrote a body
// without one, 0 when it wrote nothing yet.
func (r *Recorder) Status() int { return r.code }

func (r *Recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// Flush sends what is buffered, as the writer beneath does.
func (r *Recorder) Flush() {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap is the writer beneath, for http.ResponseController.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
