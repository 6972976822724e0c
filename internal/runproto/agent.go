package runproto

import (
	"context"
	"errors"
	"time"
)

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
