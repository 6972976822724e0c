package metrics

import (
	"github.com/jetway-dev/jetway/internal/httpstatus"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Run outcomes, the values of jetway_runs_total's status label.
const (
	OutcomeSuccess   = "success"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
	OutcomeTimeout   = "timeout"
)

// Outcome maps a final run status (api.StatusSucceeded, …) to its
// status label; anything else is a failure.
func Outcome(status string) string {
	switch status {
	case "succeeded":
		return OutcomeSuccess
	case "cancelled":
		return OutcomeCancelled
	case "timed_out":
		return OutcomeTimeout
	}
	return OutcomeFailed
}

// Server holds the metrics a jetway server observes as things happen.
type Server struct {
	reg prometheus.Registerer

	runs          *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	queueWait     prometheus.Histogram
	agentLost     prometheus.Counter
	buildSteps    *prometheus.CounterVec
	contextBytes  prometheus.Counter
	uploadedBytes prometheus.Counter
	gcFreed       *prometheus.CounterVec
	logLines      prometheus.Counter
	requests      *prometheus.CounterVec
	requestTime   *prometheus.HistogramVec
	storeErrors   prometheus.Counter
}

// NewServer registers a server's metrics in reg.
func NewServer(reg prometheus.Registerer) *Server {
	m := &Server{
		reg: reg,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "runs_total",
			Help: "Runs ended, by project and outcome (success, failed, cancelled, timeout)."}, []string{"project", "status"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "run_duration_seconds",
			Help: "How long ended runs ran, from their lease to their end, by project.", Buckets: durationBuckets}, []string{"project"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "queue_wait_seconds",
			Help: "How long runs waited in the queue before an agent leased them.", Buckets: durationBuckets}),
		agentLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "agent_lost_total",
			Help: "Agents that went silent for the lease timeout while this server heard them."}),
		buildSteps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "build_steps_total",
			Help: "Cacheable image build steps of ended runs, by project and whether the builder found them cached (true, false)."}, []string{"project", "cached"}),
		contextBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "build_context_bytes_total",
			Help: "Bytes of build context runs' builds sent to their Docker hosts, as their summaries report."}),
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "uploaded_bytes_total",
			Help: "Compressed bytes of bundle blobs and artifact chunks stored by this server."}),
		gcFreed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "docker_host_gc_freed_bytes_total",
			Help: "Bytes garbage collections freed on each Docker host (images and build cache)."}, []string{"host"}),
		logLines: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "log_lines_total",
			Help: "Lines stored in runs' logs by this server."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests answered by the API listener, by route (the mux's pattern) and status code."}, []string{"route", "code"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
			Help: "How long the API listener took to answer, by route; log streams and agents' long polls last long by design.", Buckets: httpBuckets}, []string{"route"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "store_errors_total",
			Help: "Statements the database refused or failed (not constraint refusals, missing rows or cancelled requests)."}),
	}
	reg.MustRegister(m.runs, m.runDuration, m.queueWait, m.agentLost, m.buildSteps, m.contextBytes, m.uploadedBytes, m.gcFreed,
		m.logLines, m.requests, m.requestTime, m.storeErrors)
	// Outcomes nobody had yet read 0, not "no data": a ratio of failures
	// needs both.
	m.storeErrors.Add(0)
	return m
}

// RunEnded counts a run that ended with a final status; ran is how long
// it ran (0 for one that never left the queue: it is not observed).
func (m *Server) RunEnded(project, status string, ran time.Duration) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(project, Outcome(status)).Inc()
	if ran > 0 {
		m.runDuration.WithLabelValues(project).Observe(ran.Seconds())
	}
}

// BuildSteps counts the cacheable steps of a run's build.
func (m *Server) BuildSteps(project string, cached, cacheable int) {
	if m == nil || cacheable == 0 {
		return
	}
	m.buildSteps.WithLabelValues(project, "true").Add(float64(cached))
	m.buildSteps.WithLabelValues(project, "false").Add(float64(cacheable - cached))
}

// BuildContext counts bytes of build context sent to a Docker host.
func (m *Server) BuildContext(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.contextBytes.Add(float64(n))
}

// Leased observes how long a run waited in the queue.
func (m *Server) Leased(waited time.Duration) {
	if m == nil {
		return
	}
	m.queueWait.Observe(max(waited, 0).Seconds())
}

// AgentLost counts an agent gone silent.
func (m *Server) AgentLost() {
	if m == nil {
		return
	}
	m.agentLost.Inc()
}

// Uploaded counts compressed bytes stored.
func (m *Server) Uploaded(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.uploadedBytes.Add(float64(n))
}

// LogLines counts lines stored in runs' logs.
func (m *Server) LogLines(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.logLines.Add(float64(n))
}

// HostGC counts what a garbage collection freed on a Docker host.
func (m *Server) HostGC(host string, freed int64) {
	if m == nil || freed <= 0 {
		return
	}
	m.gcFreed.WithLabelValues(host).Add(float64(freed))
}

// StoreError counts a statement the database failed.
func (m *Server) StoreError() {
	if m == nil {
		return
	}
	m.storeErrors.Inc()
}

// Unrouted is the route label of a request no pattern matched (a method a
// path does not take) or that bypasses the mux: the AWS APIs, whose
// target is the client's to name.
const (
	Unrouted = "unmatched"
	AWSRoute = "aws"
)

// InstrumentHTTP counts and times every request h answers, by the route
// route names after h has served it (for a ServeMux inside h: the
// request's Pattern, which the mux sets on the request it is given).
func (m *Server) InstrumentHTTP(h http.Handler, route func(*http.Request) string) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := httpstatus.New(w)
		h.ServeHTTP(sw, r)
		rt := route(r)
		if rt == "" {
			rt = Unrouted
		}
		code := sw.Status()
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(rt, strconv.Itoa(code)).Inc()
		m.requestTime.WithLabelValues(rt).Observe(time.Since(start).Seconds())
	})
}
