// Package server is jetway's control plane: one HTTP listener for the
// JSON API (/v1, bearer token), the embedded parameter store's AWS APIs
// (POST / with X-Amz-Target, SigV4) and /healthz.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetway-dev/jetway/internal/metrics"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/web"
)

// Options configure a server.
type Options struct {
	// DataDir holds the API token, the server's id, the AWS credential
	// files and the blob cache; the server locks it while it lives.
	DataDir string
	// Store keeps runs, logs, agents and the rest; Params the parameter
	// store (both opened by package serverdb, on SQLite or PostgreSQL).
	// The server owns them from New on: Close closes them, and so does a
	// New that fails.
	Store  Store
	Params *params.Store
	Logger *slog.Logger
	// LeaseTimeout is how long an agent may stay silent before it loses
	// its runs (default runproto.DefaultLeaseTimeout).
	LeaseTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds the wait for the next piece of a request body,
	// and is the grace before its average pace must reach minBodyRate
	// (default 30s). Requests without a body, such as log streams, are
	// not limited.
	BodyTimeout time.Duration
	// IdleTimeout closes a kept-alive connection with no request for this
	// long (default 2m).
	IdleTimeout time.Duration
	// Retention bounds the runs, logs, bundles and blobs kept.
	Retention Retention
	// AllowLocalDocker lets an operator add a Docker host on a unix://
	// socket (jetway hosts add): the Docker daemon of the machine a run's
	// runner is on, which its phases could then control.
	AllowLocalDocker bool
	// HostCheckInterval is how often the server checks every Docker host
	// it knows (default 15s; negative: never).
	HostCheckInterval time.Duration
	// PublicURL is where clients and clouds reach the server: the issuer
	// ("iss") of runs' OIDC tokens and the base of its discovery document
	// (see oidc.go). Every server of one database needs the same. Empty:
	// the server issues no OIDC token.
	PublicURL string
	// Metrics, when set, is told what happens (runs ending, leases,
	// uploads, requests, store errors) and reads the queue, agents and
	// hosts from the store at each scrape. Nil: no metrics.
	Metrics *metrics.Server
}

// Bounds of request bodies.
const (
	// maxBody bounds every body but a blob's: JSON (decodeBody takes up to
	// 64 MiB), forms, the AWS APIs.
	maxBody = 64 << 20
	// maxBlobBody is putBlob's bound of a compressed blob.
	maxBlobBody = 2 << 30
	// minBodyRate is the slowest average pace, in bytes per second, at
	// which a body may arrive once BodyTimeout has passed: a client that
	// trickles a byte now and then is dropped, a slow uplink is not.
	minBodyRate = 16 << 10
)

// Server holds the control plane's state.
type Server struct {
	dataDir string
	lock    *os.File // DATA/server.lock, held while the server lives

	closeOnce sync.Once
	closeErr  error

	log   *slog.Logger
	token string
	// tokens finds who a request's token is: the server's own token or
	// one of jetway tokens'.
	tokens *tokens
	store  *params.Store
	keys   *params.Keys
	admin  params.AdminCredentials
	aws    *params.API

	runs  Store
	blobs blobs
	hub   *hub
	// localAgent is the name of the agent inside this server process.
	localAgent string
	retention  Retention

	agents       *agents
	leaseTimeout time.Duration
	stopping     chan struct{} // closed when Serve shuts down

	newToken  string // the API token, when this start created it
	dashboard *web.Dashboard

	readHeaderTimeout, bodyTimeout, idleTimeout time.Duration

	allowLocalDocker bool
	// hostCheckEvery is Options.HostCheckInterval (<= 0: no checks);
	// hostsChanged asks the checks for a round now (a host was added or
	// changed, a GC ran).
	hostCheckEvery time.Duration
	hostsChanged   chan struct{}
	// publicURL is Options.PublicURL without a final /.
	publicURL string
	metrics   *metrics.Server
	// draining is set by Drain: /readyz answers 503 from then on.
	draining atomic.Bool
}

// Info is what a starting server tells its operator.
type Info struct {
	// NewToken is the API token when this start created it (it is printed
	// once), else "".
	NewToken        string
	DataDir         string
	TokenFile       string
	CredentialsFile string
	ConfigFile      string
}

// New starts a server on the stores it is given, and opens or initialises
// the data dir: the API token (DATA/token), the server's id and the AWS
// credential files.
func New(ctx context.Context, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Store == nil || opts.Params == nil {
		return nil, errors.New("server.New: give the server its stores (package serverdb opens them)")
	}
	runs := opts.Store
	// What is open so far is closed again if the start fails.
	closers := []io.Closer{runs, opts.Params}
	failed := func(err error) (*Server, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
		return nil, err
	}
	publicURL, err := checkPublicURL(opts.PublicURL)
	if err != nil {
		return failed(err)
	}
	lock, err := LockDataDir(opts.DataDir)
	if err != nil {
		return failed(err)
	}
	closers = append(closers, lock)
	if err := checkMigration(ctx, runs); err != nil {
		return failed(err)
	}
	token, created, err := sharedToken(ctx, runs, filepath.Join(opts.DataDir, "token"))
	if err != nil {
		return failed(err)
	}
	store := opts.Params
	keys, admin, err := params.OpenKeys(ctx, store, params.KeysOptions{DataDir: opts.DataDir, Alive: runAlive(runs)})
	if err != nil {
		return failed(err)
	}
	localAgent, err := localAgentName(runs, opts.DataDir)
	if err != nil {
		return failed(err)
	}
	if runs.Shared() {
		// The other servers see this one's agent as any other.
		if err := runs.EnsureAgent(ctx, localAgent); err != nil {
			return failed(err)
		}
	}
	// Runs that a previous process of this server left running have lost
	// their runner: say so, and keep their logs. Queued runs simply go on.
	if n, err := runs.FailUnfinished(ctx, "server restarted", "", localAgent); err != nil {
		return failed(err)
	} else if n > 0 {
		log.Warn("runs left running by a previous server process marked failed", "runs", n)
	}
	newToken := ""
	if created {
		newToken = token
	}
	srv := &Server{dataDir: opts.DataDir, lock: lock, log: log, token: token, store: store, keys: keys, admin: admin,
		aws:  &params.API{Store: store, Keys: keys, Logger: log},
		runs: runs, blobs: newBlobs(runs, filepath.Join(opts.DataDir, "blobs")), hub: newHub(), newToken: newToken, stopping: make(chan struct{}), localAgent: localAgent, retention: opts.Retention,
		agents: newAgents(), leaseTimeout: cmp.Or(opts.LeaseTimeout, runproto.DefaultLeaseTimeout),
		readHeaderTimeout: cmp.Or(opts.ReadHeaderTimeout, 10*time.Second), bodyTimeout: cmp.Or(opts.BodyTimeout, 30*time.Second),
		idleTimeout:      cmp.Or(opts.IdleTimeout, 2*time.Minute),
		allowLocalDocker: opts.AllowLocalDocker, hostCheckEvery: cmp.Or(opts.HostCheckInterval, defaultHostCheckInterval), hostsChanged: make(chan struct{}, 1),
		tokens: newTokens(runs, token)}
	// Every read of values and every change through the AWS APIs goes to
	// the audit log, by name: which run read which parameters.
	srv.aws.OnAccess = srv.auditAccess
	// The dashboard's sessions live in the database: they survive a
	// restart and work on every server. Each records the token it was
	// opened with, so a new API token ends them all.
	srv.publicURL = publicURL
	srv.metrics = opts.Metrics
	srv.metrics.WatchState(srv.metricsState)
	if srv.dashboard, err = web.New(web.Options{Source: dashboardSource{srv}, Secret: token, Sessions: dbSessions{runs}, Logger: log}); err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

// Info says where the server keeps what an operator needs.
func (s *Server) Info() Info {
	return Info{NewToken: s.newToken, DataDir: s.dataDir, TokenFile: filepath.Join(s.dataDir, "token"), CredentialsFile: s.admin.CredentialsFile, ConfigFile: s.admin.ConfigFile}
}

func loadOrCreateToken(path string) (token string, created bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(data)); t != "" {
			return t, false, nil
		}
		return "", false, fmt.Errorf("%s is empty; remove it to have a new API token made", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	token = "jw_" + hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, err
	}
	_, err = f.WriteString(token + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return token, true, err
}

// Handler routes every request of the one listener.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /v1/params", s.allow(rightParams, s.listParams))
	mux.Handle("POST /v1/params", s.allow(rightParams, s.putParam))
	mux.Handle("DELETE /v1/params", s.allow(rightParams, s.deleteParam))
	mux.Handle("GET /v1/params/value", s.allow(rightParams, s.getParam))
	mux.Handle("POST /v1/credentials", s.allowOrRun(rightParams, s.issueCredentials))
	s.identityRoutes(mux)
	s.runRoutes(mux)
	s.agentRoutes(mux)
	s.projectRoutes(mux)
	s.hostRoutes(mux)
	s.oidcRoutes(mux)
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: %s %s", r.Method, r.URL.Path)
	})
	mux.Handle("/", s.dashboard.Handler())
	// Counted by route once the mux has set the request's pattern.
	return s.metrics.InstrumentHTTP(s.limitBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if params.IsAWSRequest(r) {
			s.aws.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})), route)
}

// limitBodies bounds the size of every request body, and drops a request
// whose body stalls or trickles (see pacedBody). Bodies are only read by
// handlers that answer at once, so a stalled body never holds a stream.
func (s *Server) limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		limit := int64(maxBody)
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/blobs/") {
			limit = maxBlobBody
		}
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestEntityTooLarge, "the request body is %d bytes; this route takes at most %d", r.ContentLength, limit)
			return
		}
		body := &pacedBody{body: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w), timeout: s.bodyTimeout, start: time.Now()}
		body.setDeadline(body.start.Add(body.timeout))
		r.Body = body
		h.ServeHTTP(w, r)
	})
}

// pacedBody is a request body that must keep coming: each read must bring
// data within timeout of the previous one, and once timeout has passed the
// body must have arrived at minBodyRate on average. It sets the
// connection's read deadline to the earlier of the two, so a stalled read
// fails instead of holding the handler and the connection forever. At the
// end of the body it clears the deadline: what the handler does next, such
// as an agent's long poll, is not the body's to bound.
type pacedBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	start   time.Time
	n       int64
}

func (b *pacedBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.setDeadline(time.Time{})
		return n, err
	}
	if err != nil {
		// The deadline stays: after the handler the server reads what is
		// left of the body before it reuses the connection, and that read
		// must fail too, closing the connection.
		return n, err
	}
	if n > 0 {
		next := time.Now().Add(b.timeout)
		paced := b.start.Add(b.timeout + time.Duration(float64(b.n)/minBodyRate*float64(time.Second)))
		if paced.Before(next) {
			next = paced
		}
		b.setDeadline(next)
	}
	return n, nil
}

func (b *pacedBody) Close() error { return b.body.Close() }

// setDeadline sets the connection's read deadline where the server allows
// it (not in tests that call the handler without a connection).
func (b *pacedBody) setDeadline(t time.Time) { _ = b.rc.SetReadDeadline(t) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// Serve answers on l until ctx ends, then shuts down gracefully. Runs on
// agents go on; an agent inside this process is its caller's to stop
// first (its runners report to this server until they end).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	// No ReadTimeout or WriteTimeout: they would cut log streams and large
	// uploads. Bodies are paced by limitBodies instead.
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: s.readHeaderTimeout, IdleTimeout: s.idleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	leasesCtx, stopLeases := context.WithCancel(ctx)
	leasesDone := make(chan struct{})
	go func() { defer close(leasesDone); s.watchLeases(leasesCtx) }()
	listenDone := make(chan struct{})
	go func() { defer close(listenDone); s.listenPeers(leasesCtx) }()
	retainDone := make(chan struct{})
	go func() { defer close(retainDone); s.retain(leasesCtx) }()
	hostsDone := make(chan struct{})
	go func() { defer close(hostsDone); s.watchHosts(leasesCtx) }()
	chunksDone := make(chan struct{})
	go func() { defer close(chunksDone); s.sweepRunChunks(leasesCtx) }()
	var serveErr error
	select {
	case serveErr = <-done:
	case <-ctx.Done():
	}
	s.Drain()
	stopLeases()
	<-leasesDone
	<-listenDone
	<-retainDone
	<-hostsDone
	<-chunksDone
	close(s.stopping) // waiting leases answer "nothing" now
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr == nil {
		<-done
	}
	return errors.Join(serveErr, err, s.Close())
}

// Close releases the stores when Serve was never called.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = errors.Join(s.store.Close(), s.runs.Close(), s.lock.Close()) })
	return s.closeErr
}

// readyTimeout bounds /readyz's question to the store.
const readyTimeout = 2 * time.Second

// ready answers /readyz: 200 when the listener serves (it answers), the
// store answers, no migration into the database is unfinished, and the
// server is not draining; else 503 with the reason. /healthz only says
// that the process is alive.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "draining: the server is stopping\n")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := checkMigration(ctx, s.runs); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "the store: %v\n", err)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// Drain makes /readyz answer 503, so that a load balancer sends no new
// clients; the server goes on serving those it has (and its runners)
// until Serve's context ends.
func (s *Server) Drain() { s.draining.Store(true) }
