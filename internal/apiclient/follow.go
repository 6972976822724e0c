package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// End is how a followed run ended.
type End struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Follow streams a run's log to w until the run ends, reconnecting (from
// the last chunk seen) if the stream breaks.
func (c *Client) Follow(ctx context.Context, runID string, w io.Writer) (End, error) {
	last := ""
	for attempt := 0; ; attempt++ {
		header := http.Header{"Accept": {"text/event-stream"}}
		if last != "" {
			header.Set("Last-Event-ID", last)
		}
		resp, err := c.Stream(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(runID)+"/logs", url.Values{"follow": {"1"}}, nil, header)
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

// readEvents parses server-sent events: data lines go to w, "end" stops.
func readEvents(r io.Reader, w io.Writer, last *string) (End, bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var event, id string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
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
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		case line == "data:":
			data = append(data, "")
		}
	}
	return End{}, false, sc.Err()
}
