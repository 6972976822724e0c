package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/jetway-dev/jetway/internal/metrics"
)

// opsFlags are what an operator of a long-running command (jetway server,
// jetway agent) sets to watch it: where Prometheus scrapes it, and the
// format of its logs.
type opsFlags struct {
	metricsListen string
	logFormat     string
}

func (o *opsFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics, on a listener of their own without a token, e.g. 127.0.0.1:9470 (default: none)")
	f.StringVar(&o.logFormat, "log-format", "text", "logs on stderr as text (key=value) or json (one object a line: time, level, msg, and run, agent or host where there is one)")
}

// logger is the command's logger at level (debug with --verbose), in the
// format --log-format asks.
func (o *opsFlags) logger(c *CLI, level slog.Level) (*slog.Logger, error) {
	if c.Verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "", "text":
		return slog.New(slog.NewTextHandler(c.Err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.Err, opts)), nil
	}
	return nil, usageError("--log-format %q: give text or json", o.logFormat)
}

// metricsServer serves a registry on --metrics-listen.
type metricsServer struct {
	reg  *prometheus.Registry
	l    net.Listener
	srv  *http.Server
	done chan error
}

// listenMetrics opens --metrics-listen, or returns nil when it is empty.
// The listener is opened before anything starts, so that a taken address
// stops the command at once.
func (o *opsFlags) listenMetrics() (*metricsServer, error) {
	if o.metricsListen == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", o.metricsListen)
	if err != nil {
		return nil, withExit(ExitFailed, fmt.Errorf("--metrics-listen: %w", err))
	}
	return &metricsServer{reg: metrics.NewRegistry(), l: l}, nil
}

// URL is where Prometheus scrapes.
func (m *metricsServer) URL() string { return "http://" + m.l.Addr().String() + "/metrics" }

// serve answers GET /metrics until stop.
func (m *metricsServer) serve(log *slog.Logger) {
	if m == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(m.reg))
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	m.done = make(chan error, 1)
	go func() { m.done <- m.srv.Serve(m.l) }()
}

// stop ends serve (a scrape under way gets a few seconds), or closes the
// listener if serve was never called.
func (m *metricsServer) stop() {
	if m == nil {
		return
	}
	if m.srv == nil {
		m.l.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
	<-m.done // http.ErrServerClosed
}

// serverMetrics and agentMetrics register a command's metrics, or return
// nil (no metrics) without a listener.
func (m *metricsServer) serverMetrics() *metrics.Server {
	if m == nil {
		return nil
	}
	return metrics.NewServer(m.reg)
}

func (m *metricsServer) agentMetrics() *metrics.Agent {
	if m == nil {
		return nil
	}
	return metrics.NewAgent(m.reg)
}
