package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/metrics"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// What the server tells Prometheus (internal/metrics names it all). The
// counters are observed here, where a run ends, a run is leased, bytes
// and log lines are stored; the gauges are read from the store at each
// scrape (metricsState), so that every replica reports the same.

// runEnded counts a run that this server brought to a final status (its
// Transition returned true): by its project, with how long it ran since
// its lease, and the steps of its build.
func (s *Server) runEnded(ctx context.Context, id, status string, summary *api.Summary) {
	if s.metrics == nil {
		return
	}
	run, err := s.runs.GetRun(ctx, id)
	if err != nil {
		s.log.Warn("reading an ended run for its metrics", "run", id, "err", err)
		return
	}
	var ran time.Duration
	if run.StartedAt != nil {
		end := time.Now()
		if run.FinishedAt != nil {
			end = *run.FinishedAt
		}
		ran = max(end.Sub(*run.StartedAt), time.Millisecond)
	}
	s.metrics.RunEnded(run.Project, status, ran)
	if summary != nil && summary.Build != nil {
		cached, cacheable := summary.Build.CacheHits()
		s.metrics.BuildSteps(run.Project, cached, cacheable)
		s.metrics.BuildContext(summary.Build.ContextBytes)
	}
}

// countLines counts the lines of text stored in a run's log: its complete
// lines, and a last one without its newline.
func (s *Server) countLines(text string) {
	if s.metrics == nil || text == "" {
		return
	}
	n := strings.Count(text, "\n")
	if !strings.HasSuffix(text, "\n") {
		n++
	}
	s.metrics.LogLines(n)
}

// countingEvents counts the lines of the events it stores (a batch sent
// again stores nothing, and counts nothing).
type countingEvents struct {
	runproto.EventStore
	s *Server
}

func (c countingEvents) AppendEvents(ctx context.Context, runID string, after, upTo int64, text string) (bool, error) {
	stored, err := c.EventStore.AppendEvents(ctx, runID, after, upTo, text)
	if stored && err == nil {
		c.s.countLines(text)
	}
	return stored, err
}

// route names a request's route for the HTTP metrics once the mux has
// served it: its pattern ("GET /v1/runs/{id}"), a bounded set.
func route(r *http.Request) string {
	if params.IsAWSRequest(r) {
		return metrics.AWSRoute
	}
	return r.Pattern
}

// watchLostAgents counts the agents that have gone silent for the lease
// timeout since they last spoke to this server, once each until they
// speak again. On a shared database an agent that talks to another
// server now is not lost.
func (s *Server) watchLostAgents(ctx context.Context) {
	var silent []string
	s.agents.mu.Lock()
	for name, at := range s.agents.seen {
		if time.Since(at) < s.leaseTimeout {
			delete(s.agents.lost, name)
		} else if !s.agents.lost[name] {
			silent = append(silent, name)
		}
	}
	s.agents.mu.Unlock()
	if len(silent) == 0 {
		return
	}
	var stored map[string]time.Duration
	if s.runs.Shared() {
		var err error
		if stored, err = s.runs.AgentSilences(ctx); err != nil {
			return // not knowing is no loss; the next round asks again
		}
	}
	for _, name := range silent {
		if silence, ok := stored[name]; ok && silence < s.leaseTimeout {
			continue
		}
		s.agents.mu.Lock()
		s.agents.lost[name] = true
		s.agents.mu.Unlock()
		s.metrics.AgentLost()
		s.log.Warn("agent lost: no heartbeat for the lease timeout", "agent", name, "lease_timeout", s.leaseTimeout)
	}
}

// metricsState reads the gauges of state from the store: the queue, the
// runs leased, the agents with their slots, the Docker hosts' last
// checks.
func (s *Server) metricsState(ctx context.Context) (metrics.State, error) {
	st := metrics.State{Queued: map[string]int{}, Agents: map[string]int{}}
	queued, err := s.runs.Queued(ctx)
	if err != nil {
		return st, err
	}
	for _, run := range queued {
		st.Queued[config.LabelString(runsOn(run).RunsOn)]++
	}
	active, err := s.runs.Active(ctx)
	if err != nil {
		return st, err
	}
	st.Running = len(active)
	agents, err := s.agentList(ctx)
	if err != nil {
		return st, err
	}
	for _, a := range agents {
		if a.Revoked {
			continue
		}
		if a.LastSeen == nil || time.Since(*a.LastSeen) >= s.leaseTimeout {
			st.Agents[metrics.AgentOffline]++
			continue
		}
		slots := max(a.Concurrency, 1)
		st.Slots += slots
		st.SlotsBusy += min(len(a.Running), slots)
		if len(a.Running) > 0 {
			st.Agents[metrics.AgentBusy]++
		} else {
			st.Agents[metrics.AgentIdle]++
		}
	}
	hosts, err := s.runs.ListHosts(ctx, "")
	if err != nil {
		return st, err
	}
	for _, h := range hosts {
		hs := metrics.HostState{Name: h.Name}
		if h.State != nil && !h.State.CheckedAt.IsZero() {
			hs.Checked, hs.Up = true, h.State.Up
			hs.FreeBytes, hs.DiskBytes, hs.BuildCacheBytes = h.State.FreeBytes, h.State.DiskBytes, h.State.BuildCacheBytes
		}
		st.Hosts = append(st.Hosts, hs)
	}
	return st, nil
}
