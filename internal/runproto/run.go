package runproto

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/params"
)

// Run is one leased run as its runner reaches the server, with the run
// token alone: it reads the run's spec and bundle and its references'
// values (through a key pair that reads only those), and reports through
// an Uploader. It learns of a cancellation from its agent (SIGTERM), and
// the summary event finishes the run. Every call may be repeated.
type Run interface {
	Spec(ctx context.Context) (api.RunSpec, error)
	// Bundle streams the run's source as a tar; the caller closes it. A
	// stream cut short or a blob that does not match its hash is an error
	// of bundle.Extract, naming the file.
	Bundle(ctx context.Context) (io.ReadCloser, error)
	Resolve(ctx context.Context, refs []config.Ref) (map[config.Ref]params.Resolved, error)
	// Events starts the run's uploader; Close sends what is left.
	Events(ctx context.Context, opts UploaderOptions) *Uploader
}

// RunClient is Run over the server's HTTP routes:
//
//	GET  /v1/runs/{id}/spec     the run's project file, env, git facts, passed variables
//	GET  /v1/runs/{id}/bundle   its source, as a tar checked blob by blob
//	POST /v1/credentials        a key pair that reads only its references (SSM/Secrets Manager APIs)
//	POST /v1/runs/{id}/events   its numbered events (see Events)
type RunClient struct {
	server, id, token string
	// ssmEndpoint overrides where references are read (an AWS endpoint,
	// say); "" is the server's own store.
	ssmEndpoint string
	api         *apiclient.Client
}

var _ Run = (*RunClient)(nil)

// NewRunClient reaches run id on server with its run token. server may
// list several addresses of one server, separated by commas: requests go
// to the first that answers.
func NewRunClient(server, id, token, ssmEndpoint string) *RunClient {
	servers := Servers(server)
	if len(servers) == 0 {
		servers = []string{server}
	}
	c := &RunClient{server: servers[0], id: id, token: token, ssmEndpoint: ssmEndpoint, api: apiclient.New(servers[0], token)}
	if f, err := newFailover(http.DefaultTransport, servers); err == nil {
		c.api.HTTP.Transport = f
	}
	return c
}

func (c *RunClient) path(what string) string { return "/v1/runs/" + url.PathEscape(c.id) + "/" + what }

// Spec reads the run's spec.
func (c *RunClient) Spec(ctx context.Context) (api.RunSpec, error) {
	var spec api.RunSpec
	err := c.api.Do(ctx, http.MethodGet, c.path("spec"), nil, nil, &spec)
	return spec, err
}

// Bundle streams the run's source.
func (c *RunClient) Bundle(ctx context.Context) (io.ReadCloser, error) {
	resp, err := c.api.Stream(ctx, http.MethodGet, c.path("bundle"), nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Resolve reads the references' values.
func (c *RunClient) Resolve(ctx context.Context, refs []config.Ref) (map[config.Ref]params.Resolved, error) {
	return c.api.Resolve(ctx, c.ssmEndpoint, refs)
}

// Events starts the run's uploader over the same HTTP client.
func (c *RunClient) Events(ctx context.Context, opts UploaderOptions) *Uploader {
	opts.Server, opts.RunID, opts.Token, opts.HTTP = c.server, c.id, c.token, c.api.HTTP
	return NewUploader(ctx, opts)
}
