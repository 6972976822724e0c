// Package runproto is the protocol between a runner and the server, both
// halves of it, so that they are read and tested together. Today it holds
// the upload of a run's events; the rest of the runner's side of the
// protocol (lease, heartbeat, spec, bundle, credentials, cancellation)
// joins it.
//
// # Events
//
// A runner numbers its run's events 1, 2, 3… (api.Event.Seq) and sends them
// in order, a batch at a time, to POST /v1/runs/{id}/events with its run
// token. The body is a JSON array of events with consecutive numbers. The
// server stores a batch's events that it has not stored yet, the log text
// and the run's last stored number in one transaction, and answers
//
//   - 200 with EventsAck{Acked}: the last number it has stored. A batch
//     that was stored already (its answer was lost, so the runner sent it
//     again) is answered the same way and stored no second time.
//   - 409 with EventsAck{Acked, Error} when the batch starts after
//     Acked+1: events are missing in between; the runner resends from
//     Acked+1.
//   - 400 for a batch that is not numbered consecutively from 1 up, 401 for
//     a token that is not the run's (the run has ended, or the server has
//     forgotten it): the runner stops sending.
//
// A summary event ends the run; the server applies it whenever it arrives,
// also in a resent batch, since ending an ended run changes nothing.
//
// The runner's half, Uploader, keeps every event until the server has
// acknowledged it, sends one batch at a time, and retries for as long as
// the run lives and, when the run ends, until a last deadline. The
// server's half is StoreEvents.
//
// Usage, in a runner:
//
//	up := runproto.NewUploader(ctx, runproto.UploaderOptions{Server: url, RunID: id, Token: token})
//	defer up.Close() // sends what is left, within its deadline
//	up.Emit(api.Event{Type: "log", Message: "hello"})
package runproto

import (
	"context"
	"fmt"
	"net/url"
)

// EventsPath is the route a run's events are posted to.
func EventsPath(runID string) string {
	return "/v1/runs/" + url.PathEscape(runID) + "/events"
}

// EventsAck is the server's answer to a batch of events: the number of the
// last event it has stored, and on a refusal why.
type EventsAck struct {
	Acked int64  `json:"acked"`
	Error string `json:"error,omitempty"`
}

// GapError refuses a batch that starts after the next event the server
// expects; the runner resends from Acked+1.
type GapError struct {
	First, Acked int64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("the events start at number %d, but the server has stored only up to %d; send from %d", e.First, e.Acked, e.Acked+1)
}

// BatchError refuses a batch that is not numbered consecutively from 1 up:
// a fault of the runner, not something a resend repairs.
type BatchError struct{ Reason string }

func (e *BatchError) Error() string { return "invalid batch of events: " + e.Reason }

// EventStore keeps a run's log and its last stored event number; the
// server's store implements it. AppendEvents must store text and upTo
// together, and only if the run's number is still after (reporting false
// otherwise), so that of two requests storing the same events one wins.
type EventStore interface {
	EventsAcked(ctx context.Context, runID string) (int64, error)
	AppendEvents(ctx context.Context, runID string, after, upTo int64, text string) (bool, error)
}
