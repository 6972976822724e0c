// Package servertest runs a real jetway server for tests of its clients.
//
// A server alone executes nothing: its runs stay queued. WithAgent adds
// the agent `jetway server --concurrency N` runs inside the server, with
// the launcher a test chooses:
//
//	url, token := servertest.Start(t, server.Options{DataDir: dir},
//		servertest.WithAgent(agent.LocalLauncher(&executor.Local{Binary: bin, LogDir: t.TempDir()}), 2))
package servertest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/agent"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/serverdb"
)

// Option adds to the server Start starts.
type Option func(*setup)

type setup struct {
	launcher    agent.Launcher
	concurrency int
	database    string
}

// WithDatabase keeps the server's data in the PostgreSQL database url
// (which other servers may share) instead of its data dir's SQLite
// databases. It applies when opts.Store is nil.
func WithDatabase(url string) Option {
	return func(s *setup) { s.database = url }
}

// WithAgent runs the server's own agent ("local"): it executes the
// server's runs with launcher, concurrency at once. When the test ends its
// runs are stopped (no drain) before the server stops.
func WithAgent(launcher agent.Launcher, concurrency int) Option {
	return func(s *setup) { s.launcher, s.concurrency = launcher, concurrency }
}

// Start serves a server with opts on a loopback port until the test ends,
// and returns its URL and API token. Without opts.Store it opens the
// stores as jetway server does (package serverdb).
func Start(t testing.TB, opts server.Options, options ...Option) (url, token string) {
	t.Helper()
	var set setup
	for _, o := range options {
		o(&set)
	}
	if opts.Store == nil {
		st, err := serverdb.Open(context.Background(), serverdb.Options{DataDir: opts.DataDir, Database: set.database})
		if err != nil {
			t.Fatal(err)
		}
		opts.Store, opts.Params = st.Runs, st.Params
	}
	srv, err := server.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url = "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	agentCtx, stopAgent := context.WithCancel(context.Background())
	drained := make(chan error, 1)
	if set.launcher != nil {
		go func() {
			drained <- agent.Run(agentCtx, agent.Options{
				Coordinator: srv.Coordinator(),
				// The labels `jetway server` gives its agent by default.
				Info:      runproto.AgentInfo{Name: srv.LocalAgentName(), Labels: map[string]string{"arch": runtime.GOARCH, "os": runtime.GOOS}, Concurrency: set.concurrency},
				Launcher:  set.launcher,
				ServerURL: func() string { return url },
				Logger:    opts.Logger,
			})
		}()
	} else {
		drained <- nil
	}
	// The agent stops first, so that its runners can still report.
	t.Cleanup(func() {
		stopAgent()
		if err := <-drained; err != nil {
			t.Errorf("agent: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	data, err := os.ReadFile(filepath.Join(opts.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	return url, strings.TrimSpace(string(data))
}
