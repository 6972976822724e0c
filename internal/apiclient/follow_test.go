package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Follow reads an event stream as the specification frames it, whatever
// line breaks the server uses, and however the reads cut them.
func TestFollowFraming(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pieces []string // written and flushed one by one
		want   string
		status string
	}{
		{"LF", []string{"id: 1\ndata: a\ndata: b\n\n: ping\n\nevent: end\ndata: {\"status\":\"succeeded\"}\n\n"}, "a\nb\n", "succeeded"},
		{"CR LF", []string{"id: 1\r\ndata: a\r\ndata: b\r\n\r\nevent: end\r\ndata: {\"status\":\"failed\"}\r\n\r\n"}, "a\nb\n", "failed"},
		{"CR", []string{"id: 1\rdata: a\rdata: b\r\revent: end\rdata: {\"status\":\"failed\"}\r\r"}, "a\nb\n", "failed"},
		{"CR LF cut between CR and LF", []string{"id: 1\r", "\ndata: a\r", "\ndata: b\r", "\n\r", "\nevent: end\r\ndata: {\"status\":\"failed\"}\r\n\r\n"}, "a\nb\n", "failed"},
		{"fields without a space", []string{"id:1\ndata:a\ndata\ndata: \n\nevent:end\ndata:{\"status\":\"succeeded\"}\n\n"}, "a\n\n\n", "succeeded"},
		{"a data line that looks like a field", []string{"data: event: end\ndata: data: {}\n\nevent: end\ndata: {\"status\":\"failed\"}\n\n"}, "event: end\ndata: {}\n", "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, p := range tc.pieces {
					_, _ = w.Write([]byte(p))
					w.(http.Flusher).Flush()
					time.Sleep(20 * time.Millisecond)
				}
			}))
			defer srv.Close()
			var out strings.Builder
			// A reader that misses the end reconnects for ever.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			end, err := New(srv.URL, "t").Follow(ctx, "r1", &out)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want || end.Status != tc.status {
				t.Errorf("got %q %+v, want %q %s", out.String(), end, tc.want, tc.status)
			}
		})
	}
}
