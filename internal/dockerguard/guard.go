// Package dockerguard is the runner's Engine API endpoint for a run: the
// only way a run's phases reach the shared Docker host. Each request is
// parsed into the Engine API's own types (with dockerd's decoding rules:
// encoding/json, case-insensitive keys, the last of duplicate keys wins),
// checked against the project's policy, and forwarded re-encoded from what
// was checked, never as the bytes the phase sent. What the run creates is
// labelled with its project and run; a run sees and touches only its
// project's containers, networks, volumes and execs, and when it ends the
// runner removes what it created.
//
// Why by hand: Tecnativa's docker-socket-proxy and Docker's AuthZ plugins
// decide by endpoint (or parse the body separately from the daemon, which
// is how CVE-2024-41110 slipped a privileged container past them), and
// neither scopes objects by owner. net/http parses the requests
// (Content-Length, chunked bodies, pipelining: each request is checked on
// its own), httputil.ReverseProxy forwards them and passes protocol
// upgrades (attach, exec, the BuildKit session) through, half-closes
// included.
package dockerguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// Labels put on what a run creates.
const (
	LabelProject = "dev.jetway.project"
	LabelRun     = "dev.jetway.run"
)

// maxJSONBody bounds the JSON bodies the guard decodes; the Engine API's
// largest (a container's configuration) is a few KiB.
const maxJSONBody = 1 << 20

// minAPIVersion is the oldest API version the guard forwards. Before 1.24
// dockerd took host settings in places the guard does not read (a
// HostConfig in the body of POST /containers/{id}/start).
const minAPIVersion = 24

// Dialer opens a connection to the Docker daemon's API.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Config describes one run's guard.
type Config struct {
	// Dialer reaches the Docker host; the runner's own connection.
	Dialer  Dialer
	Project string
	RunID   string
	Policy  api.DockerPolicy
	// Repositories are image repositories the project owns besides those
	// named PROJECT or PROJECT/… (jetway.yaml's image.name).
	Repositories []string
	Logger       *slog.Logger
}

// Guard serves one run's Engine API endpoint.
type Guard struct {
	cfg      Config
	log      *slog.Logger
	upstream *http.Client
	proxy    *httputil.ReverseProxy
	repos    []string

	mu sync.Mutex
	// containers and execs are the IDs this run created. Ownership of a
	// container is this record, not its labels: a container inherits the
	// labels of its image, and the classic builder's RUN containers of
	// another project's build from an image of this one would carry them.
	containers map[string]bool
	execs      map[string]bool
	// decoding bounds the JSON bodies read at once (each up to
	// maxJSONBody), so a run cannot pin the runner's memory with many
	// unfinished ones.
	decoding chan struct{}
}

// maxDecoding is how many JSON bodies the guard reads at once.
const maxDecoding = 16

// bodyDeadline bounds the reading of one JSON body.
const bodyDeadline = 30 * time.Second

// New makes a run's guard.
func New(cfg Config) *Guard {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return cfg.Dialer.DialContext(ctx, "", "")
		},
		DisableCompression:  true,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}
	g := &Guard{cfg: cfg, log: log, upstream: &http.Client{Transport: transport},
		containers: map[string]bool{}, execs: map[string]bool{}, decoding: make(chan struct{}, maxDecoding)}
	for _, r := range cfg.Repositories {
		if n, err := normalizeRepo(r); err == nil {
			g.repos = append(g.repos, n)
		}
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", "docker", "docker"
		},
		Transport:     transport,
		FlushInterval: -1, // logs, events and build output stream as they come
		ModifyResponse: func(res *http.Response) error {
			if hook, ok := res.Request.Context().Value(responseHookKey{}).(func(*http.Response) error); ok {
				return hook(res)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("docker guard: forwarding a request", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusBadGateway, "jetway docker guard: the Docker host did not answer: "+err.Error())
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return g
}

// Serve answers the run's requests on l until ctx ends, then closes l and
// the connections still open.
func (g *Guard) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

// Close releases the guard's idle connections to the Docker host.
func (g *Guard) Close() { g.upstream.CloseIdleConnections() }

type responseHookKey struct{}

// guardKey and writerKey carry the guard and the response writer to
// decodeBody, which bounds its reading.
type (
	guardKey  struct{}
	writerKey struct{}
)

// refusal is a request the guard does not forward.
type refusal struct {
	status int
	msg    string
}

func (e *refusal) Error() string { return e.msg }

// denied refuses what the policy does not allow; allowance names what an
// operator could grant ("" when nothing can).
func (g *Guard) denied(allowance, format string, args ...any) error {
	msg := "jetway docker guard: " + fmt.Sprintf(format, args...)
	if allowance != "" {
		// --docker replaces the project's list: the hint keeps what the
		// project is allowed already.
		allow, err := api.NormalizeDockerAllowances(append(slices.Clone(g.cfg.Policy.Allow), allowance))
		if err != nil {
			allow = []string{allowance}
		}
		msg += fmt.Sprintf(" (rule %s: an operator can allow it with jetway projects set %s --docker %s)", allowance, g.cfg.Project, strings.Join(allow, ","))
	}
	return &refusal{status: http.StatusForbidden, msg: msg}
}

func badRequest(format string, args ...any) error {
	return &refusal{status: http.StatusBadRequest, msg: "jetway docker guard: " + fmt.Sprintf(format, args...)}
}

// notFound is what a run is told of another project's object: the same
// answer dockerd gives for one that does not exist.
func notFound(kind, name string) error {
	return &refusal{status: http.StatusNotFound, msg: fmt.Sprintf("No such %s: %s", kind, name)}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// request is one request as the guard handles it.
type request struct {
	*http.Request
	version string // "/v1.41" or ""
	path    string // without the version prefix
	parts   []string
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+)\.([0-9]+)(/.*)$`)

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := g.serve(w, r)
	var ref *refusal
	if errors.As(err, &ref) {
		if ref.status == http.StatusForbidden {
			g.log.Info("docker guard refused a request", "method", r.Method, "path", r.URL.Path, "reason", ref.msg)
		}
		// The request's body is not forwarded; do not read it either.
		w.Header().Set("Connection", "close")
		writeError(w, ref.status, ref.msg)
		return
	}
	if err != nil {
		g.log.Warn("docker guard: a request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusBadGateway, "jetway docker guard: "+err.Error())
	}
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request) error {
	// A path with encoded characters (%2F, %2E) or dot segments could
	// route one way here and another in dockerd; neither is ever needed.
	if r.URL.RawPath != "" || strings.Contains(r.URL.Path, "%") || path.Clean(r.URL.Path) != r.URL.Path || r.URL.Path == "" {
		return badRequest("the path %q is not in canonical form", r.URL.Path)
	}
	r = r.WithContext(context.WithValue(context.WithValue(r.Context(), guardKey{}, g), writerKey{}, w))
	req := &request{Request: r, path: r.URL.Path}
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if major != 1 || minor < minAPIVersion {
			return badRequest("API version %s.%s is not served; use 1.%d or newer", m[1], m[2], minAPIVersion)
		}
		req.version, req.path = "/v"+m[1]+"."+m[2], m[3]
	}
	req.parts = strings.Split(strings.Trim(req.path, "/"), "/")
	h, err := g.route(req)
	if err != nil {
		return err
	}
	return h(w, req)
}

// forward sends r on, with path (no version prefix) and query as given and
// body as the new body (nil: none).
func (g *Guard) forward(w http.ResponseWriter, req *request, p string, query url.Values, body []byte, hook func(*http.Response) error) error {
	out := req.Request.Clone(req.Context())
	if hook != nil {
		out = out.WithContext(context.WithValue(req.Context(), responseHookKey{}, hook))
	}
	out.URL = &url.URL{Path: req.version + p, RawQuery: query.Encode()}
	out.RequestURI = ""
	setBody(out, body)
	g.proxy.ServeHTTP(w, out)
	return nil
}

// forwardStream sends r on with its body as it comes (a build context,
// an archive): bytes the daemon reads as data, never as settings.
func (g *Guard) forwardStream(w http.ResponseWriter, req *request, p string, query url.Values) error {
	out := req.Request.Clone(req.Context())
	out.URL = &url.URL{Path: req.version + p, RawQuery: query.Encode()}
	out.RequestURI = ""
	// dockerd reads parameters from a body of type
	// application/x-www-form-urlencoded before the query the guard
	// checked; a streamed body is data, so it is typed as such.
	if out.Header.Get("Upgrade") == "" {
		out.Header.Set("Content-Type", "application/x-tar")
	}
	g.proxy.ServeHTTP(w, out)
	return nil
}

func setBody(r *http.Request, body []byte) {
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	if body == nil {
		r.Body, r.ContentLength = http.NoBody, 0
		r.Header.Del("Content-Length")
		r.Header.Del("Content-Type")
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.Header.Set("Content-Type", "application/json")
}

// decodeBody decodes the request's JSON body into v as dockerd does; an
// empty body leaves v as it is.
func decodeBody(r *http.Request, v any) (empty bool, err error) {
	if g, ok := r.Context().Value(guardKey{}).(*Guard); ok {
		select {
		case g.decoding <- struct{}{}:
			defer func() { <-g.decoding }()
		case <-r.Context().Done():
			return false, badRequest("the request was cancelled")
		}
	}
	if w, ok := r.Context().Value(writerKey{}).(http.ResponseWriter); ok {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyDeadline))
		defer func() { _ = http.NewResponseController(w).SetReadDeadline(time.Time{}) }()
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return false, badRequest("reading the request body: %v", err)
	}
	if len(data) > maxJSONBody {
		return false, badRequest("the request body is over %d bytes", maxJSONBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return true, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, badRequest("the request body is not valid for this endpoint: %v", err)
	}
	return false, nil
}

func encode(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("re-encoding the request: %w", err)
	}
	return data, nil
}

// get asks the daemon for path's JSON into v; found is false on a 404.
func (g *Guard) get(ctx context.Context, p string, v any) (found bool, err error) {
	return g.call(ctx, http.MethodGet, p, nil, nil, v)
}

func (g *Guard) call(ctx context.Context, method, p string, query url.Values, body any, v any) (found bool, err error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return false, err
		}
		rd = bytes.NewReader(data)
	}
	u := "http://docker" + p
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := g.upstream.Do(req)
	if err != nil {
		return false, fmt.Errorf("the Docker host did not answer: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
		return false, nil
	}
	if res.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		return true, fmt.Errorf("%s %s: %s: %s", method, p, res.Status, strings.TrimSpace(string(msg)))
	}
	if v == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return true, nil
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return true, fmt.Errorf("%s %s: %w", method, p, err)
	}
	return true, nil
}
