package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// End is how a followed run ended.
type End struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Follow is c.Runs.Follow.
func (c *Client) Follow(ctx context.Context, runID string, w io.Writer) (End, error) {
	return c.Runs.Follow(ctx, runID, w)
}

// Follow streams a run's log to w until the run ends, reconnecting (from
// the last chunk seen) if the stream breaks.
func (s RunsService) Follow(ctx context.Context, runID string, w io.Writer) (End, error) {
	last := ""
	for attempt := 0; ; attempt++ {
		header := http.Header{"Accept": {"text/event-stream"}}
		if last != "" {
			header.Set("Last-Event-ID", last)
		}
		resp, err := s.c.stream(ctx, api.RouteRunLogs, api.RunLogsPath(runID), url.Values{"follow": {"1"}}, nil, header)
		if err != nil {
			if ctx.Err() != nil || attempt >= 5 {
				return End{}, err
			}
			time.Sleep(time.Second)
			continue
		}
		end, done, err := readEvents(resp.Body, w, &last)
		resp.Body.Close()
		if done {
			return end, nil
		}
		if ctx.Err() != nil {
			return End{}, ctx.Err()
		}
		if err != nil && attempt >= 5 {
			return End{}, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// readEvents parses server-sent events as the specification reads them
// (https://html.spec.whatwg.org/multipage/server-sent-events.html): lines
// end at CR LF, LF or a lone CR; an event's data fields are joined with
// LF. Each log event's data goes to w with a final LF; "end" stops.
func readEvents(r io.Reader, w io.Writer, last *string) (End, bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	sc.Split(scanEventLines)
	var event, id string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if event == "end" {
				var end End
				_ = json.Unmarshal([]byte(strings.Join(data, "\n")), &end)
				return end, true, nil
			}
			if len(data) > 0 {
				_, _ = io.WriteString(w, strings.Join(data, "\n")+"\n")
			}
			if id != "" {
				*last = id
			}
			event, id, data = "", "", nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "id":
			id = value
		case "data":
			data = append(data, value)
		}
	}
	return End{}, false, sc.Err()
}

// scanEventLines is a bufio.SplitFunc for the lines of an event stream.
func scanEventLines(b []byte, atEOF bool) (advance int, token []byte, err error) {
	i := bytes.IndexAny(b, "\r\n")
	switch {
	case i < 0 && atEOF && len(b) > 0:
		return len(b), b, nil
	case i < 0:
		return 0, nil, nil
	case b[i] == '\n':
		return i + 1, b[:i], nil
	case i+1 < len(b) && b[i+1] == '\n':
		return i + 2, b[:i], nil
	case i+1 < len(b) || atEOF:
		return i + 1, b[:i], nil
	}
	return 0, nil, nil // a CR at the end: its LF may come with the next read
}
