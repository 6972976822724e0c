package runproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CoordinatorClient is the agent's half of the agent protocol over HTTP.
// It knows one or more addresses of one server (fallbacks: lease state
// lives in that server's memory, so they must reach the same process) and
// talks to one at a time, the current one: a request that
// gets no answer from it (connection refused, reset, timed out) or a 5xx
// goes to the next server in the list, at once, and that one becomes
// current. It stays current until it fails in turn; the client does not
// go back to the first server on its own.
//
// Lease and Heartbeat may be called concurrently.
type CoordinatorClient struct {
	servers []string
	token   string
	http    *http.Client
	log     *slog.Logger
	// leaseTimeout must exceed the server's LeaseWait, or every idle long
	// poll would end as a failure and move to the next server.
	leaseTimeout, heartbeatTimeout time.Duration

	mu      sync.Mutex
	current int // index into servers
}

var _ Coordinator = (*CoordinatorClient)(nil)

// CoordinatorOption configures a CoordinatorClient.
type CoordinatorOption func(*CoordinatorClient)

// WithHTTPClient sends the requests with c (its own TLS settings or
// proxy, say). Its Timeout should be zero: each request has its own.
func WithHTTPClient(c *http.Client) CoordinatorOption {
	return func(cc *CoordinatorClient) { cc.http = c }
}

// WithLogger receives the moves from one server to the next.
func WithLogger(l *slog.Logger) CoordinatorOption {
	return func(cc *CoordinatorClient) { cc.log = l }
}

// WithTimeouts bounds one lease request (default LeaseWait+15s, which
// leaves the server's long poll room to answer) and one heartbeat
// (default 10s). A request that times out counts as no answer.
func WithTimeouts(lease, heartbeat time.Duration) CoordinatorOption {
	return func(cc *CoordinatorClient) { cc.leaseTimeout, cc.heartbeatTimeout = lease, heartbeat }
}

// NewCoordinatorClient returns the client of the agent protocol for the
// servers' base URLs (http://host:7070), tried in that order, and the
// agent's token (jwa_…).
func NewCoordinatorClient(servers []string, token string, opts ...CoordinatorOption) *CoordinatorClient {
	c := &CoordinatorClient{
		token: token, http: &http.Client{}, log: slog.New(slog.DiscardHandler),
		leaseTimeout: LeaseWait + 15*time.Second, heartbeatTimeout: 10 * time.Second,
	}
	for _, s := range servers {
		c.servers = append(c.servers, strings.TrimSuffix(s, "/"))
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ServerList lists the server's addresses, the current one first, as a
// runner takes them (JETWAY_SERVER): it fails over as its agent does.
func (c *CoordinatorClient) ServerList() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i := range c.servers {
		out = append(out, c.servers[(c.current+i)%len(c.servers)])
	}
	return strings.Join(out, ",")
}

// CurrentServer is the base URL of the server the client talks to now.
// The runs an agent starts get it, so that a runner talks to the server
// that leased its run.
func (c *CoordinatorClient) CurrentServer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.servers) == 0 {
		return ""
	}
	return c.servers[c.current]
}

// Lease asks for a run, waiting up to the server's LeaseWait.
func (c *CoordinatorClient) Lease(ctx context.Context, req LeaseRequest) (*Lease, error) {
	var lease Lease
	ok, err := c.post(ctx, LeasePath, c.leaseTimeout, req, &lease)
	if err != nil || !ok {
		return nil, err
	}
	return &lease, nil
}

// Heartbeat reports the agent alive with its runs.
func (c *CoordinatorClient) Heartbeat(ctx context.Context, req HeartbeatRequest) (*HeartbeatResponse, error) {
	var resp HeartbeatResponse
	ok, err := c.post(ctx, HeartbeatPath, c.heartbeatTimeout, req, &resp)
	if err != nil || !ok {
		return nil, err
	}
	return &resp, nil
}

// maxAnswer bounds an answer the client reads; the protocol's are tiny.
const maxAnswer = 1 << 20

// post sends body to path on the current server, and on no answer or a
// 5xx to each next one, each server once. It decodes a 200 into out and
// reports true; a 204 reports false.
func (c *CoordinatorClient) post(ctx context.Context, path string, timeout time.Duration, body, out any) (bool, error) {
	if len(c.servers) == 0 {
		return false, errors.New("no jetway server given")
	}
	data, err := json.Marshal(body)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	start := c.current
	c.mu.Unlock()
	var errs []error
	for i := range c.servers {
		at := (start + i) % len(c.servers)
		ok, err := c.postTo(ctx, c.servers[at], path, timeout, data, out)
		var unavailable *unavailableError
		if !errors.As(err, &unavailable) {
			c.use(at)
			return ok, err
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		errs = append(errs, err)
		if len(c.servers) > 1 {
			next := (at + 1) % len(c.servers)
			c.log.Warn("the jetway server did not answer; trying the next one", "server", c.servers[at], "next", c.servers[next], "err", unavailable.err)
			c.use(next)
		}
	}
	return false, errors.Join(errs...)
}

// use makes the server at index i current.
func (c *CoordinatorClient) use(i int) {
	c.mu.Lock()
	c.current = i
	c.mu.Unlock()
}

// unavailableError is a server that gave no answer, or a 5xx: the next
// server may do better.
type unavailableError struct {
	server string
	err    error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("the jetway server at %s is unavailable: %v", e.server, e.err)
}
func (e *unavailableError) Unwrap() error { return e.err }

func (c *CoordinatorClient) postTo(ctx context.Context, server, path string, timeout time.Duration, data []byte, out any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+path, bytes.NewReader(data))
	if err != nil {
		return false, fmt.Errorf("server URL %q: %w", server, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return false, &unavailableError{server: server, err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return false, &unavailableError{server: server, err: fmt.Errorf("reading the answer: %w", err)}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := json.Unmarshal(answer, out); err != nil {
			return false, fmt.Errorf("the answer of %s%s is not what this agent understands: %w", server, path, err)
		}
		return true, nil
	case resp.StatusCode == http.StatusNoContent:
		return false, nil
	case resp.StatusCode == http.StatusUnauthorized:
		return false, fmt.Errorf("%s: %w", server, ErrAgentRefused)
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusForbidden:
		// A request the server will never take (say, a --name that is not
		// the token's): retrying cannot help, so it is a refusal too.
		return false, &RefusedError{Server: server, Err: statusError(resp, answer)}
	case resp.StatusCode == http.StatusNotFound:
		return false, fmt.Errorf("the server at %s does not know %s (404): is it a jetway server, of a version with agents?", server, path)
	case resp.StatusCode >= 500:
		return false, &unavailableError{server: server, err: statusError(resp, answer)}
	default:
		return false, fmt.Errorf("%s%s: %w", server, path, statusError(resp, answer))
	}
}

// RefusedError is a refusal the server explains; it is ErrAgentRefused
// for errors.Is, so the agent stops.
type RefusedError struct {
	Server string
	Err    error
}

func (e *RefusedError) Error() string        { return e.Server + " refused this agent: " + e.Err.Error() }
func (e *RefusedError) Is(target error) bool { return target == ErrAgentRefused }

// statusError is an error answer, with the server's {"error": …} message
// when it sent one.
func statusError(resp *http.Response, answer []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(answer, &e) == nil && e.Error != "" {
		return fmt.Errorf("%s: %s", resp.Status, e.Error)
	}
	if text := strings.TrimSpace(string(answer)); text != "" {
		return fmt.Errorf("%s: %.200s", resp.Status, text)
	}
	return errors.New(resp.Status)
}
