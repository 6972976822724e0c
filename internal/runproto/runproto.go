// Package runproto is the protocol between the server and who executes
// runs (agents, and the runners they start), both halves of it, so that
// they are read and tested together: agents lease runs and report with
// heartbeats (Coordinator, with its HTTP client; the server implements it
// in process for its own agent), and a runner uploads its run's numbered
// events (Uploader). A runner also reads its run's spec and bundle and its
// references' credentials with its run token, through the routes
// GET /v1/runs/{id}/spec, GET /v1/runs/{id}/bundle and POST
// /v1/credentials.
//
// # Agents
//
// An agent executes runs on its machine. It pulls work, the way GitLab
// Runner, Buildkite and Woodpecker agents do: the server never dials an
// agent, so an agent needs only a way out to the server.
//
//	POST /v1/agent/lease      LeaseRequest → 200 Lease | 204 (nothing within the wait)
//	POST /v1/agent/heartbeat  HeartbeatRequest → 200 HeartbeatResponse
//
// Both take the agent's token (Authorization: Bearer jwa_…), which can do
// nothing else; a revoked or unknown token gets 401, and the agent stops.
//
// Lease is a long poll: the server answers as soon as a queued run fits
// the agent (its labels match the run's runs_on, and no other run of the
// project runs anywhere), or with 204 after LeaseWait. The lease hands over
// the run and a run token: the runner fetches the run's spec and bundle,
// reads its references and sends its events with that token alone (see
// Events below).
//
// Heartbeat says the agent is alive and which runs it executes, every
// HeartbeatEvery. It renews those runs' leases and answers which of them to
// stop: cancelled by a user, ended by the server, or not the agent's. A
// run the agent lists is running from then on; one it leased but has not
// listed for 10 s (it lists a run once its runner has started) is queued
// again once if it never started, and fails otherwise. An agent silent for the server's lease timeout loses
// its runs: they fail with the reason "agent NAME lost (no heartbeat for
// 30s)"; a run leased but never started is queued again, once. A 400
// (say, a name that is not the token's) is a refusal as final as a 401.
//
// Run tokens are stored hashed with the run, so a server restart does not
// touch runs on agents: they go on, their uploaders buffer events, and send
// again from the last number the restarted server acknowledged.
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
//     a token that is not the run's (the run ended more than 10 minutes
//     ago, or its agent was revoked): the runner stops sending. A 5xx is
//     sent again.
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
