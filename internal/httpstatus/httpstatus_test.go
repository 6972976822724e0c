package httpstatus

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecorder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(w http.ResponseWriter)
		want    int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0},
		{"a body", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK},
		{"a status", func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) }, http.StatusForbidden},
		{"the first status", func(w http.ResponseWriter) { w.WriteHeader(http.StatusCreated); w.WriteHeader(http.StatusTeapot) }, http.StatusCreated},
		{"a flush", func(w http.ResponseWriter) { http.NewResponseController(w).Flush() }, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			under := httptest.NewRecorder()
			r := New(under)
			tc.handler(r)
			if r.Status() != tc.want {
				t.Errorf("status %d, want %d", r.Status(), tc.want)
			}
			if tc.name == "a flush" && !under.Flushed {
				t.Error("the flush did not reach the writer beneath")
			}
		})
	}
}
