// Package apiclient talks to a jetway server's /v1 JSON API, a typed
// method per route of api's route table, grouped by resource:
//
//	c := apiclient.New("http://127.0.0.1:7070", token)
//	runs, err := c.Runs.List(ctx, apiclient.RunListOptions{Project: "web", Limit: 20})
//	missing, err := c.Bundles.Missing(ctx, hashes)
//
// Errors are an *UnreachableError when no answer came, a *StatusError
// (with the server's status and message) when the server refused.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls the API with a bearer token. Make one with New: its
// services (Runs, Bundles, …) point back at it.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client

	Runs     RunsService
	Bundles  BundlesService
	Params   ParamsService
	Tokens   TokensService
	Audit    AuditService
	OIDC     OIDCService
	Agents   AgentsService
	Projects ProjectsService
	Hosts    HostsService
}

// New returns a client for the server at baseURL.
func New(baseURL, token string) *Client {
	c := &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
	c.Runs = RunsService{c}
	c.Bundles = BundlesService{c}
	c.Params = ParamsService{c}
	c.Tokens = TokensService{c}
	c.Audit = AuditService{c}
	c.OIDC = OIDCService{c}
	c.Agents = AgentsService{c}
	c.Projects = ProjectsService{c}
	c.Hosts = HostsService{c}
	return c
}

// call sends a request to route (one of api's Route* patterns, whose
// method it takes) at path (built by the api builder of that route).
func (c *Client) call(ctx context.Context, route, path string, query url.Values, body, out any) error {
	return c.Do(ctx, method(route), path, query, body, out)
}

// stream is call for a raw body and an open answer.
func (c *Client) stream(ctx context.Context, route, path string, query url.Values, body io.Reader, header http.Header) (*http.Response, error) {
	return c.Stream(ctx, method(route), path, query, body, header)
}

// method is a route pattern's method: "GET /v1/runs" → "GET".
func method(route string) string {
	m, _, _ := strings.Cut(route, " ")
	return m
}

// StatusError is an error answer from the server.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	if e.Status == http.StatusUnauthorized {
		return "the server refused the API token: " + e.Message + "; set JETWAY_TOKEN or --token"
	}
	return e.Message
}

// UnreachableError means no answer came from the server at all.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the jetway server at %s (%v); start it with `jetway server` or set JETWAY_SERVER / --server", e.URL, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when not nil). path is built by the api package's route table
// (api.RunPath, …); the typed services are the usual way in, Do serves
// protocol clients of routes that take another token (runproto's).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		var netErr net.Error
		var opErr *net.OpError
		if errors.As(err, &opErr) || errors.As(err, &netErr) {
			return &UnreachableError{URL: c.BaseURL, Err: err}
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
		}
		return &StatusError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Stream sends a request with a raw body and returns the open response for
// the caller to read (log streams, bundles). It has no overall timeout.
// path is built by the api package's route table, as Do's.
func (c *Client) Stream(ctx context.Context, method, path string, query url.Values, body io.Reader, header http.Header) (*http.Response, error) {
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := (&http.Client{Transport: c.HTTP.Transport}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &UnreachableError{URL: c.BaseURL, Err: err}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
		}
		return nil, &StatusError{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}
