package metrics

import "github.com/prometheus/client_golang/prometheus"

// Agent holds the metrics of an agent process (jetway agent, or the agent
// inside jetway server). Their names differ from the server's agent
// gauges, which count every agent from the store: summing both would
// count an agent twice.
type Agent struct {
	concurrency prometheus.Gauge
	executing   prometheus.Gauge
	draining    prometheus.Gauge
	started     prometheus.Counter
	exited      *prometheus.CounterVec
	errors      *prometheus.CounterVec
}

// NewAgent registers an agent's metrics in reg.
func NewAgent(reg prometheus.Registerer) *Agent {
	m := &Agent{
		concurrency: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "agent_concurrency",
			Help: "Runs this agent executes at once, at most."}),
		executing: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "agent_runs_executing",
			Help: "Runners this agent has started that have not exited."}),
		draining: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "agent_draining",
			Help: "1 while this agent drains (it leases no more runs), else 0."}),
		started: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "agent_runs_started_total",
			Help: "Runners this agent started."}),
		exited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "agent_runners_exited_total",
			Help: "Runners of this agent that exited, by result: ok (the runner reported its run, whatever its outcome) or error."}, []string{"result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "agent_server_errors_total",
			Help: "Requests of this agent to the server that failed, by call (lease, heartbeat)."}, []string{"call"}),
	}
	reg.MustRegister(m.concurrency, m.executing, m.draining, m.started, m.exited, m.errors)
	for _, r := range []string{"ok", "error"} {
		m.exited.WithLabelValues(r)
	}
	for _, c := range []string{"lease", "heartbeat"} {
		m.errors.WithLabelValues(c)
	}
	return m
}

// Concurrency sets the agent's slots.
func (m *Agent) Concurrency(n int) {
	if m != nil {
		m.concurrency.Set(float64(n))
	}
}

// Draining says the agent leases no more runs.
func (m *Agent) Draining() {
	if m != nil {
		m.draining.Set(1)
	}
}

// RunnerStarted counts a runner started.
func (m *Agent) RunnerStarted() {
	if m != nil {
		m.started.Inc()
		m.executing.Inc()
	}
}

// RunnerExited counts a runner that exited, with an error or not.
func (m *Agent) RunnerExited(err error) {
	if m == nil {
		return
	}
	m.executing.Dec()
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.exited.WithLabelValues(result).Inc()
}

// ServerError counts a failed request to the server: call is "lease" or
// "heartbeat".
func (m *Agent) ServerError(call string) {
	if m != nil {
		m.errors.WithLabelValues(call).Inc()
	}
}
