// Package metrics is what jetway's server and agents tell Prometheus: the
// names, labels and buckets of every metric, in one place, so that the
// alert rules (deploy/prometheus/alerts.yml) and the dashboards have one
// list to read.
//
// Each process makes its own registry (NewRegistry) and serves it on a
// listener of its own (Handler; jetway server and jetway agent
// --metrics-listen), never on the API's: the API needs a token, a scraper
// has none. Nothing here is global: two servers in one test process have
// two registries.
//
// Two kinds of metrics, on purpose:
//
//   - Counters and histograms (runs ended, queue wait, bytes uploaded, log
//     lines, HTTP requests, store errors) are observed where the event
//     happens, by the process it happens in. Replicas of one database each
//     count their own share: sum them.
//   - Gauges of state (queued and running runs, agents, slots, Docker
//     hosts) are read from the store when Prometheus scrapes (a
//     prometheus.Collector over a StateFunc), never kept in memory: every
//     replica then reports the same numbers, whichever of them the agents
//     and runners talk to. Take max, not sum, over replicas.
//
// Label values are bounded: projects, Docker hosts and runs_on labels
// are named by the operator, HTTP routes are the mux's patterns, statuses
// a fixed set. A run id never becomes a label.
//
// Every method of a nil *Server or *Agent does nothing, so code that runs
// without metrics (tests, jetway run) needs no checks.
//
// Usage:
//
//	reg := metrics.NewRegistry()
//	m := metrics.NewServer(reg)
//	m.WatchState(func(ctx context.Context) (metrics.State, error) { … })
//	go http.Serve(metricsListener, metrics.Handler(reg))
//	m.RunEnded("hello", "succeeded", 42*time.Second)
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every name: jetway_runs_total.
const namespace = "jetway"

// NewRegistry makes a process's registry, with the Go runtime's and the
// process's collectors (go_*, process_*).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format (or OpenMetrics when
// asked). A collector that fails (the store did not answer) costs its own
// metrics, not the scrape: the rest is served, and the failure is counted
// in promhttp_metric_handler_errors_total.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          reg,
		EnableOpenMetrics: true,
	}))
}

// durationBuckets are the seconds of runs and queue waits: 0.05 s to 1 h,
// about 2.5 apart.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}

// httpBuckets are the seconds of HTTP requests: 5 ms to 60 s (agents'
// long polls wait up to 30 s).
var httpBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
