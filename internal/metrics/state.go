package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is what the store says now, for the gauges of state.
type State struct {
	// Queued counts queued runs by their runs_on, as "k=v,k=v" ("" for
	// none).
	Queued map[string]int
	// Running counts runs leased and not ended (provisioning or running).
	Running int
	// Agents counts agents by AgentStates.
	Agents map[string]int
	// Slots is how many runs the live agents may execute at once, and
	// SlotsBusy how many of those execute one.
	Slots, SlotsBusy int
	Hosts            []HostState
}

// Agent states, the values of jetway_agents' state label: live (heard
// within the lease timeout) with runs or without, or not live.
const (
	AgentBusy    = "busy"
	AgentIdle    = "idle"
	AgentOffline = "offline"
)

// AgentStates are the state label's values, all exported (at 0 when no
// agent is in one) so that alerts see a series.
var AgentStates = []string{AgentBusy, AgentIdle, AgentOffline}

// HostState is what the last health check found of a Docker host.
type HostState struct {
	Name string
	// Checked tells whether a check has found anything yet; an unchecked
	// host exports nothing.
	Checked bool
	Up      bool
	// FreeBytes and DiskBytes are its data root's disk; 0 when unknown
	// (then not exported).
	FreeBytes, DiskBytes int64
	BuildCacheBytes      int64
}

// StateFunc reads the state; it must bear being called concurrently.
type StateFunc func(context.Context) (State, error)

// stateTimeout bounds one read of the state at a scrape.
const stateTimeout = 5 * time.Second

// WatchState exports the gauges of state, read with read at each scrape.
// Call it once.
func (m *Server) WatchState(read StateFunc) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&stateCollector{read: read})
}

var (
	descQueued    = prometheus.NewDesc(namespace+"_runs_queued", "Runs waiting in the queue, by their runs_on labels.", []string{"runs_on"}, nil)
	descRunning   = prometheus.NewDesc(namespace+"_runs_running", "Runs leased to an agent and not ended.", nil, nil)
	descAgents    = prometheus.NewDesc(namespace+"_agents", "Agents by state: busy and idle ones were heard within the lease timeout, offline ones not.", []string{"state"}, nil)
	descSlots     = prometheus.NewDesc(namespace+"_agent_slots", "Runs the live agents may execute at once (their concurrency).", nil, nil)
	descBusy      = prometheus.NewDesc(namespace+"_agent_slots_busy", "Slots of live agents that execute a run.", nil, nil)
	descHostUp    = prometheus.NewDesc(namespace+"_docker_host_up", "Whether the last health check of a Docker host found it up (1) or down (0).", []string{"host"}, nil)
	descHostFree  = prometheus.NewDesc(namespace+"_docker_host_disk_free_bytes", "Free bytes of a Docker host's data root, as its last check measured (ssh:// hosts).", []string{"host"}, nil)
	descHostDisk  = prometheus.NewDesc(namespace+"_docker_host_disk_bytes", "Size in bytes of a Docker host's data root's disk, as its last check measured (ssh:// hosts).", []string{"host"}, nil)
	descHostCache = prometheus.NewDesc(namespace+"_docker_host_build_cache_bytes", "Bytes of build cache on a Docker host, as its last check found.", []string{"host"}, nil)
)

// stateCollector reads the state at each scrape. A read that fails
// exports none of the gauges (a stale number would look like a fact);
// the store's own hook has counted its error.
type stateCollector struct {
	read StateFunc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descRunning, descAgents, descSlots, descBusy, descHostUp, descHostFree, descHostDisk, descHostCache} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	st, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descRunning, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for runsOn, n := range st.Queued {
		gauge(descQueued, float64(n), runsOn)
	}
	if _, ok := st.Queued[""]; !ok {
		gauge(descQueued, 0, "") // an empty queue is a series too
	}
	gauge(descRunning, float64(st.Running))
	for _, state := range AgentStates {
		gauge(descAgents, float64(st.Agents[state]), state)
	}
	gauge(descSlots, float64(st.Slots))
	gauge(descBusy, float64(st.SlotsBusy))
	for _, h := range st.Hosts {
		if !h.Checked {
			continue
		}
		up := 0.0
		if h.Up {
			up = 1
		}
		gauge(descHostUp, up, h.Name)
		gauge(descHostCache, float64(h.BuildCacheBytes), h.Name)
		if h.DiskBytes > 0 {
			gauge(descHostFree, float64(h.FreeBytes), h.Name)
			gauge(descHostDisk, float64(h.DiskBytes), h.Name)
		}
	}
}
