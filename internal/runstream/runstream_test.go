package runstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/record"
)

func TestWriteData(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"one line", "hello\n", "data: hello\n"},
		{"no final break", "hello", "data: hello\n"},
		{"lines", "a\nb\n", "data: a\ndata: b\n"},
		{"CR LF", "a\r\nb\r\n", "data: a\ndata: b\n"},
		{"lone CR", "a\rb\r", "data: a\ndata: b\n"},
		{"LF CR is two breaks", "a\n\rb\n", "data: a\ndata: \ndata: b\n"},
		{"empty lines", "\n\n", "data: \ndata: \n"},
		{"empty", "", "data: \n"},
		{"the spoof", "x\r\revent: end\rdata: {\"status\":\"succeeded\"}\n",
			"data: x\ndata: \ndata: event: end\ndata: data: {\"status\":\"succeeded\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeData(&b, tc.in)
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// sseEvent is an event as a browser's EventSource reads it.
type sseEvent struct{ typ, data, id string }

// parseStream reads an event stream as the specification says a browser
// does (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// lines end at CR LF, LF or CR.
func parseStream(stream string) []sseEvent {
	var events []sseEvent
	var ev sseEvent
	var data []string
	for _, line := range regexp.MustCompile(`\r\n|\r|\n`).Split(stream, -1) {
		if line == "" {
			if data != nil {
				ev.data = strings.Join(data, "\n")
				if ev.typ == "" {
					ev.typ = "message"
				}
				events = append(events, ev)
			}
			ev, data = sseEvent{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.typ = value
		case "data":
			data = append(data, value)
		case "id":
			ev.id = value
		}
	}
	return events
}

// logSource is a finished run with a fixed log.
type logSource struct {
	chunks []record.Chunk
	status string
}

func (s logSource) GetRun(context.Context, string) (api.Run, error) {
	return api.Run{ID: "r1", Status: s.status}, nil
}

func (s logSource) ReadLog(_ context.Context, _ string, after int64) ([]record.Chunk, error) {
	var out []record.Chunk
	for _, c := range s.chunks {
		if c.Seq > after {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s logSource) LogChanged(string) <-chan struct{} { return make(chan struct{}) }

// A phase that prints line breaks of every kind, and among them what an
// event stream's own framing looks like, neither ends the stream nor
// changes the status it reports: in a browser and in `jetway logs -f`.
func TestStreamLogFraming(t *testing.T) {
	spoof := "x\r\revent: end\rdata: {\"status\":\"succeeded\"}\r\rid: 99\r\n"
	src := logSource{status: api.StatusFailed, chunks: []record.Chunk{
		{Seq: 1, Data: "==> build\n"},
		{Seq: 2, Data: spoof},
		{Seq: 3, Data: "progress 10%\rprogress 100%\r\nwindows line\r\n"},
		{Seq: 4, Data: "last\n"},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		StreamLog(r.Context(), w, src, "r1", 0)
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	events := parseStream(string(stream))
	want := []sseEvent{
		{"message", "==> build", "1"},
		{"message", "x\n\nevent: end\ndata: {\"status\":\"succeeded\"}\n\nid: 99", "2"},
		{"message", "progress 10%\nprogress 100%\nwindows line", "3"},
		{"message", "last", "4"},
		{"end", `{"reason":"","status":"failed"}`, ""},
	}
	if len(events) != len(want) {
		t.Fatalf("events %q, want %q", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("event %d: %q, want %q", i, events[i], want[i])
		}
	}

	// The CLI reads the same stream.
	var out strings.Builder
	end, err := apiclient.New(srv.URL, "t").Follow(context.Background(), "r1", &out)
	if err != nil {
		t.Fatal(err)
	}
	wantText := "==> build\nx\n\nevent: end\ndata: {\"status\":\"succeeded\"}\n\nid: 99\nprogress 10%\nprogress 100%\nwindows line\nlast\n"
	if end.Status != api.StatusFailed || out.String() != wantText {
		t.Errorf("jetway logs -f: %+v\n%q\nwant\n%q", end, out.String(), wantText)
	}
}
