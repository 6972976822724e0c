// Package runstream writes what a run produced to an HTTP client, the
// same for the API (GET /v1/runs/{id}/logs?follow=1, GET
// /v1/runs/{id}/artifacts/{name}) and the dashboard: its log as
// server-sent events that follow it until it ends, and its artifacts as
// downloads that a browser never shows as a page of the server's origin.
package runstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/record"
)

// ServeArtifact answers with an artifact's content as a download. An
// artifact is whatever a run wrote — an HTML page with scripts, say — so
// it is never shown as a page of the server's origin: it is an attachment
// of an opaque type, and a browser that opens it anyway sandboxes it.
func ServeArtifact(w http.ResponseWriter, a api.Artifact, content io.Reader, logError func(msg string, args ...any)) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(a.Name)}))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	h.Set("X-Jetway-Sha256", a.SHA256)
	w.WriteHeader(http.StatusOK)
	// A chunk missing or damaged cuts the answer short of its length: the
	// client fails rather than keeping a wrong file.
	if _, err := io.Copy(w, content); err != nil {
		logError("sending an artifact", "artifact", a.Name, "err", err)
	}
}

// LogSource is what StreamLog reads.
type LogSource interface {
	GetRun(ctx context.Context, id string) (api.Run, error)
	ReadLog(ctx context.Context, id string, after int64) ([]record.Chunk, error)
	LogChanged(id string) <-chan struct{}
}

// StreamLog writes a run's log from the chunk after `after` as
// server-sent events — one event per stored chunk, its lines as data lines
// (see writeData), its number as the event id (so a reconnecting client
// resumes with Last-Event-ID) — and follows it until the run ends; then it
// sends an "end" event whose data is {"status": …, "reason": …}. Followers
// read from storage, so a late follower sees everything.
func StreamLog(ctx context.Context, w http.ResponseWriter, src LogSource, id string, after int64) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		changed := src.LogChanged(id)
		chunks, err := src.ReadLog(ctx, id, after)
		if err != nil {
			return
		}
		for _, c := range chunks {
			var ev strings.Builder
			fmt.Fprintf(&ev, "id: %d\n", c.Seq)
			writeData(&ev, c.Data)
			ev.WriteString("\n")
			_, _ = io.WriteString(w, ev.String())
			after = c.Seq
		}
		if flusher != nil {
			flusher.Flush()
		}
		run, err := src.GetRun(ctx, id)
		if err != nil {
			return
		}
		if api.Finished(run.Status) && len(chunks) == 0 {
			end, _ := json.Marshal(map[string]string{"status": run.Status, "reason": run.Reason})
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", end)
			if flusher != nil {
				flusher.Flush()
			}
			return
		}
		if len(chunks) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-heartbeat.C:
			_, _ = io.WriteString(w, ": ping\n\n")
		}
	}
}

// writeData writes text as the data fields of one server-sent event.
//
// An event stream ends a line at CR LF, LF or a lone CR, so each of them in
// text must start a new data field: a CR left inside a field would end it
// there, and what follows — say "event: end" — would be read as a field of
// its own, written by whoever printed the log line. A client joins the
// fields with LF, so every line break arrives as LF (a lone CR included).
// One line break at the end of text is the chunk's last one, not an empty
// line.
func writeData(b *strings.Builder, text string) {
	switch {
	case strings.HasSuffix(text, "\r\n"):
		text = text[:len(text)-2]
	case strings.HasSuffix(text, "\n"), strings.HasSuffix(text, "\r"):
		text = text[:len(text)-1]
	}
	for {
		b.WriteString("data: ")
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			b.WriteString(text)
			b.WriteString("\n")
			return
		}
		b.WriteString(text[:i])
		b.WriteString("\n")
		if strings.HasPrefix(text[i:], "\r\n") {
			i++
		}
		text = text[i+1:]
	}
}
