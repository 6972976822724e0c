package runproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
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
	Resolve(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error)
	// IDTokens are the run's OIDC tokens (id_tokens:) by variable name,
	// signed by the server with claims of the run it stored.
	IDTokens(ctx context.Context) (map[string]string, error)
	// Events starts the run's uploader; Close sends what is left.
	Events(ctx context.Context, opts UploaderOptions) *Uploader
	// PutArtifactChunk stores a piece of an artifact (at most
	// api.ArtifactChunkSize bytes) under its sha256; AddArtifact then
	// records the artifact as the concatenation of its chunks. Both are
	// done while the run lives, before its summary. Once the server has
	// refused an upload for good (the run's artifact limit, the run's
	// end), the run's log says so in a warning and both do nothing more,
	// without an error: the run goes on.
	PutArtifactChunk(ctx context.Context, hash string, data []byte) error
	AddArtifact(ctx context.Context, a api.NewArtifact) error
}

// RunClient is Run over the server's HTTP routes:
//
//	GET  /v1/runs/{id}/spec     the run's project file, env, git facts, passed variables
//	GET  /v1/runs/{id}/bundle   its source, as a tar checked blob by blob
//	POST /v1/credentials        a key pair that reads only its references (SSM/Secrets Manager APIs)
//	POST /v1/runs/{id}/id-tokens  its OIDC tokens (id_tokens: of its project file)
//	POST /v1/runs/{id}/events   its numbered events (see Events)
//	PUT  /v1/runs/{id}/artifacts/chunks/{hash}?size=N  a zstd-compressed piece of an artifact
//	POST /v1/runs/{id}/artifacts                       an artifact: name, size, sha256, chunks
type RunClient struct {
	server, id, token string

	mu sync.Mutex
	// events is the run's uploader, once Events has started it: refusals
	// of artifacts are reported there.
	events *Uploader
	// refused is the server's first refusal of an artifact upload: after
	// it nothing more is sent.
	refused *ArtifactRefusedError
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
func (c *RunClient) Resolve(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
	return c.api.Resolve(ctx, c.ssmEndpoint, refs)
}

// Events starts the run's uploader over the same HTTP client.
func (c *RunClient) Events(ctx context.Context, opts UploaderOptions) *Uploader {
	opts.Server, opts.RunID, opts.Token, opts.HTTP = c.server, c.id, c.token, c.api.HTTP
	u := NewUploader(ctx, opts)
	c.mu.Lock()
	c.events = u
	c.mu.Unlock()
	return u
}

// ArtifactRefusedError is the server's refusal of an artifact upload for
// good: the run's uploads are past its artifact limit (413), or the run
// has ended (409). Sending again changes nothing.
type ArtifactRefusedError struct {
	Status  int
	Message string
}

func (e *ArtifactRefusedError) Error() string {
	return fmt.Sprintf("the server refused the upload (%d %s): %s", e.Status, http.StatusText(e.Status), e.Message)
}

// IsArtifactRefused tells whether err is the server's refusal of an
// artifact upload for good.
func IsArtifactRefused(err error) bool {
	var r *ArtifactRefusedError
	return errors.As(err, &r)
}

// artifactRefusal turns a 409 or 413 answer into an ArtifactRefusedError;
// other errors are returned as they are.
func artifactRefusal(err error) error {
	var se *apiclient.StatusError
	if errors.As(err, &se) && (se.Status == http.StatusConflict || se.Status == http.StatusRequestEntityTooLarge) {
		return &ArtifactRefusedError{Status: se.Status, Message: se.Message}
	}
	return err
}

// sendArtifact sends one artifact request, unless the server has refused
// one for good already. A refusal is reported once in the run's log, as
// a warning, and returned (an *ArtifactRefusedError) for this request and
// every later one: the caller keeps no more files, and the run goes on.
func (c *RunClient) sendArtifact(ctx context.Context, what string, f func() error) error {
	c.mu.Lock()
	refused := c.refused
	c.mu.Unlock()
	if refused != nil {
		return refused
	}
	err := artifactRefusal(retry(ctx, f))
	var r *ArtifactRefusedError
	if !errors.As(err, &r) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events == nil {
		return err
	}
	if c.refused == nil {
		c.refused = r
		// The server's message names no file (a chunk's hash at most):
		// nothing in it needs the run's masking.
		msg := r.Message
		if what != "chunk" {
			msg = "past the run's artifact limit"
			if r.Status == http.StatusConflict {
				msg = "the run has ended"
			}
		}
		c.events.Emit(api.Event{Type: "warning", Phase: "artifacts", Message: fmt.Sprintf(
			"artifacts: the server refused a %s (%d): %s; no more files of this run are kept on the server, the run goes on", what, r.Status, msg)})
	}
	return c.refused
}

// artifactAttempts is how often an artifact request is tried: the server
// may be restarting, or another of several servers may answer next.
const artifactAttempts = 3

// retry runs f until it succeeds, fails with a refusal (4xx), ctx ends or
// the attempts are spent.
func retry(ctx context.Context, f func() error) error {
	var err error
	for i := range artifactAttempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(i) * time.Second):
			}
		}
		err = f()
		var se *apiclient.StatusError
		if err == nil || errors.As(err, &se) && se.Status < 500 {
			return err
		}
	}
	return err
}

// PutArtifactChunk sends a piece of an artifact, zstd-compressed.
func (c *RunClient) PutArtifactChunk(ctx context.Context, hash string, data []byte) error {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	compressed := enc.EncodeAll(data, nil)
	enc.Close()
	size := url.Values{"size": {strconv.Itoa(len(data))}}
	return c.sendArtifact(ctx, "chunk", func() error {
		resp, err := c.api.Stream(ctx, http.MethodPut, c.path("artifacts/chunks/"+url.PathEscape(hash)), size, bytes.NewReader(compressed),
			http.Header{"Content-Type": {"application/zstd"}})
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
}

// AddArtifact records an artifact whose chunks are stored.
func (c *RunClient) AddArtifact(ctx context.Context, a api.NewArtifact) error {
	return c.sendArtifact(ctx, "file", func() error {
		return c.api.Do(ctx, http.MethodPost, c.path("artifacts"), nil, a, nil)
	})
}
