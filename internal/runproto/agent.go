package runproto

import (
	"context"
	"errors"
	"time"
)

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
// Events above, and RunClient).
//
// Heartbeat says the agent is alive and which runs it executes, every
// HeartbeatEvery. It renews those runs' leases and answers which of them to
// stop: cancelled by a user, ended by the server, or not the agent's. An
// agent silent for the server's lease timeout loses its runs: they fail
// with the reason "agent NAME lost (no heartbeat for 30s)"; a run leased but
// never started is queued again, once.
//
// Run tokens are stored hashed with the run, so a server restart does not
// touch runs on agents: they go on, their uploaders buffer events, and send
// again from the last number the restarted server acknowledged.

// Paths of the agent protocol.
const (
	LeasePath     = "/v1/agent/lease"
	HeartbeatPath = "/v1/agent/heartbeat"
)

// Timing of the agent protocol; the server may say other values.
const (
	// LeaseWait is how long a lease request waits for a run.
	LeaseWait = 30 * time.Second
	// HeartbeatEvery is how often an agent reports; a cancellation reaches
	// an agent's run within about this long.
	HeartbeatEvery = time.Second
	// DefaultLeaseTimeout is how long a silent agent keeps its runs.
	DefaultLeaseTimeout = 30 * time.Second
)

// Coordinator is the server's half of the agent protocol, as an agent uses
// it. The HTTP client (NewCoordinatorClient) and the server's in-process
// implementation (for the agent inside `jetway server`) both satisfy it, so
// a run takes one code path wherever it executes.
//
// Lease and Heartbeat may be called concurrently. Lease returns (nil, nil)
// when no run came within the wait; ErrAgentRefused when the agent's token
// is revoked or unknown (the agent should stop); any other error is
// transient (the agent retries, after a pause).
type Coordinator interface {
	Lease(ctx context.Context, req LeaseRequest) (*Lease, error)
	Heartbeat(ctx context.Context, req HeartbeatRequest) (*HeartbeatResponse, error)
}

// ErrAgentRefused is the server's refusal of an agent's token.
var ErrAgentRefused = errors.New("the server refused this agent's token (revoked or unknown); create a new one with jetway agents token create NAME")

// AgentInfo describes an agent; it goes with every request, so the server
// always knows the agent as it is now.
type AgentInfo struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Version     string            `json:"version,omitempty"`
	Concurrency int               `json:"concurrency"`
}

// LeaseRequest asks for one run.
type LeaseRequest struct {
	Agent AgentInfo `json:"agent"`
	// Running are the runs the agent executes now.
	Running []string `json:"running"`
}

// Lease is a run handed to an agent.
type Lease struct {
	RunID   string `json:"run_id"`
	Project string `json:"project"`
	// RunToken reads this run's spec, bundle and references and sends its
	// events, while the run lives.
	RunToken string `json:"run_token"`
}

// HeartbeatRequest reports an agent alive with its runs.
type HeartbeatRequest struct {
	Agent   AgentInfo `json:"agent"`
	Running []string  `json:"running"`
}

// HeartbeatResponse tells an agent which of its runs to stop.
type HeartbeatResponse struct {
	Cancel []string `json:"cancel,omitempty"`
}
