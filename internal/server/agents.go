package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// LocalAgent is the name of the agent inside `jetway server`: its runs die
// with the server, so a restart fails them.
const LocalAgent = "local"

// agents is what the server knows of its agents beyond the store: when
// each last spoke, as what and from where. It lives in memory (and is
// written to the store every persistEvery, for jetway agents ls): after a
// restart, every agent gets a full lease timeout to speak again.
type agents struct {
	mu        sync.Mutex
	seen      map[string]time.Time
	info      map[string]runproto.AgentInfo
	address   map[string]string
	persisted map[string]time.Time // when seen was last written to the store
	lost      map[string]bool      // silent agents counted lost (metrics)
	changed   chan struct{}        // closed when a lease might now succeed

	leaseMu sync.Mutex // one lease decision at a time: one run per project
}

func newAgents() *agents {
	return &agents{seen: map[string]time.Time{}, info: map[string]runproto.AgentInfo{}, address: map[string]string{},
		persisted: map[string]time.Time{}, lost: map[string]bool{}, changed: make(chan struct{})}
}

// wait returns a channel that is closed at the next change of the queue.
func (a *agents) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// broadcast wakes every waiting lease.
func (a *agents) broadcast() {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.changed)
	a.changed = make(chan struct{})
}

// persistEvery bounds how often an agent's last contact is written: every
// 10 s, or more often with a short lease timeout, so that other servers
// of a shared database, which read it there, never think it silent.
func (s *Server) persistEvery() time.Duration { return min(10*time.Second, s.leaseTimeout/4) }

// heard records that an agent spoke, as what, and from where; it reports
// whether that is worth writing to the store now.
func (a *agents) heard(info runproto.AgentInfo, addr string, persistEvery time.Duration) (persist bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	a.seen[info.Name] = now
	a.info[info.Name] = info
	if addr != "" {
		a.address[info.Name] = addr
	}
	if now.Sub(a.persisted[info.Name]) < persistEvery {
		return false
	}
	a.persisted[info.Name] = now
	return true
}

// heard records an agent's contact, and now and then writes it to the
// store: a server restart then still shows when agents were last seen,
// and the other servers of a shared database know the agent is alive
// (this server's own agent included).
func (s *Server) heard(ctx context.Context, info runproto.AgentInfo, addr string) {
	if !s.agents.heard(info, addr, s.persistEvery()) || (info.Name == s.localAgent && !s.runs.Shared()) {
		return
	}
	now := time.Now().UTC()
	if err := s.runs.AgentSeen(ctx, api.Agent{Name: info.Name, Labels: info.Labels, Version: info.Version, Concurrency: info.Concurrency, Address: addr, LastSeen: &now}); err != nil {
		s.log.Warn("recording an agent's contact", "agent", info.Name, "err", err)
	}
}

// serversOwn tells whether name is that of a server's own agent: "local",
// or on a shared database "local-HOST-…" (see localAgentName). No token
// may take such a name, nor revoke one.
func serversOwn(name string) bool {
	return name == LocalAgent || strings.HasPrefix(name, LocalAgent+"-")
}

// errAgentRevoked refuses a lease to an agent revoked during its request.
var errAgentRevoked = errors.New("the agent's token was revoked")

// hashToken is how tokens are stored: a leaked database holds no token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Coordinator is the agent protocol for the agent inside the server: the
// same calls an agent makes over HTTP, without a token.
func (s *Server) Coordinator() runproto.Coordinator { return localCoordinator{s} }

type localCoordinator struct{ s *Server }

func (c localCoordinator) Lease(ctx context.Context, req runproto.LeaseRequest) (*runproto.Lease, error) {
	req.Agent.Name = c.s.localAgent
	return c.s.lease(ctx, req, "")
}

func (c localCoordinator) Heartbeat(ctx context.Context, req runproto.HeartbeatRequest) (*runproto.HeartbeatResponse, error) {
	req.Agent.Name = c.s.localAgent
	return c.s.heartbeat(ctx, req, "")
}

// lease waits up to LeaseWait for a queued run the agent may take, and
// leases it.
func (s *Server) lease(ctx context.Context, req runproto.LeaseRequest, addr string) (*runproto.Lease, error) {
	s.heard(ctx, req.Agent, addr)
	timer := time.NewTimer(runproto.LeaseWait)
	defer timer.Stop()
	for {
		changed := s.agents.wait()
		l, err := s.tryLease(ctx, req.Agent)
		if l != nil || err != nil {
			return l, err
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, nil
		case <-s.stopping:
			return nil, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		// Not "heard" again here: a partitioned agent's long poll stays
		// open on this side, and must not keep it alive. Heartbeats do.
	}
}

// tryLease hands the oldest queued run the agent may take to it: its
// labels match the run's runs_on, it has a free slot, and no run of the
// project is leased anywhere (two runs would thrash one cache).
func (s *Server) tryLease(ctx context.Context, agent runproto.AgentInfo) (*runproto.Lease, error) {
	s.agents.leaseMu.Lock()
	defer s.agents.leaseMu.Unlock()
	if agent.Name != s.localAgent {
		// Revoked while its long poll waited: no run, and no run token.
		if a, err := s.runs.AgentByName(ctx, agent.Name); err != nil || a.Revoked {
			return nil, errAgentRevoked
		}
	}
	token := "jwr_" + newID(24)
	run, ok, err := s.runs.LeaseNext(ctx, agent.Name, hashToken(token), max(agent.Concurrency, 1), func(run record.Run) bool {
		return runsOn(run).Matches(agent.Labels)
	})
	if err != nil || !ok {
		return nil, err
	}
	s.log.Info("run leased", "run", run.ID, "project", run.Project, "agent", agent.Name)
	s.metrics.Leased(time.Since(run.CreatedAt))
	s.changed(run.ID)
	return &runproto.Lease{RunID: run.ID, Project: run.Project, RunToken: token}, nil
}

// runsOn is the run's project as far as routing goes: its runs_on, stored
// with it. For a run stored before they were, its project file says; one
// that no longer parses matches any agent (its runner reports the error).
func runsOn(run record.Run) *config.Project {
	if run.RunsOn != nil {
		return &config.Project{RunsOn: run.RunsOn}
	}
	p, err := config.Parse(config.FileName, []byte(run.ProjectFile))
	if err != nil {
		return &config.Project{}
	}
	return p
}

// leaseGrace is how long after its lease a run may be missing from its
// agent's heartbeats (the agent lists a run once its runner has started):
// 10 s, or the lease timeout when that is shorter.
func (s *Server) leaseGrace() time.Duration { return min(10*time.Second, s.leaseTimeout) }

// heartbeat renews an agent's runs and says which of them to stop. A run
// leased to the agent that it has not listed for leaseGrace was never
// started (it goes back to the queue, once) or ended without a result.
func (s *Server) heartbeat(ctx context.Context, req runproto.HeartbeatRequest, addr string) (*runproto.HeartbeatResponse, error) {
	s.heard(ctx, req.Agent, addr)
	resp := &runproto.HeartbeatResponse{}
	// One read for all of it: a listed run that is not active (gone,
	// ended, queued again) is stopped, as is one of another agent.
	active, err := s.runs.Active(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]record.Run, len(active))
	for _, run := range active {
		byID[run.ID] = run
	}
	for _, id := range req.Running {
		run, ok := byID[id]
		if !ok || run.Agent != req.Agent.Name || run.CancelRequested || overdue(run) {
			resp.Cancel = append(resp.Cancel, id)
			continue
		}
		// Its agent runs its runner: it has started, whether or not an
		// event came yet (a lost agent's started run fails, it is not
		// queued again).
		if run.Status == api.StatusProvisioning {
			if _, err := s.runs.Transition(ctx, id, []string{api.StatusProvisioning}, api.StatusRunning, "", nil); err != nil {
				return nil, err
			}
			s.changed(id)
		}
	}
	for _, run := range active {
		if run.Agent != req.Agent.Name || slices.Contains(req.Running, run.ID) || run.StartedAt == nil || time.Since(*run.StartedAt) < s.leaseGrace() {
			continue
		}
		if run.Status == api.StatusProvisioning && run.Attempts < 2 {
			s.requeue(ctx, run.ID, fmt.Sprintf("agent %s did not start the run; queued again", req.Agent.Name))
			continue
		}
		s.endRun(ctx, run.ID, api.StatusFailed, "the runner on agent "+req.Agent.Name+" exited without a result")
	}
	return resp, nil
}

// requeue puts a leased run that never started back in the queue.
func (s *Server) requeue(ctx context.Context, id, reason string) {
	if ok, _ := s.runs.Requeue(ctx, id, reason); ok {
		s.appendLog(ctx, id, reason+"\n")
		s.changed(id)
		s.queueChanged()
	}
}

// overdue tells whether a run has run 2 minutes past its timeout: its
// runner enforces the timeout itself, so this is the backstop for one
// that hangs.
func overdue(run record.Run) bool {
	// Every heartbeat asks: no run is overdue before 2 minutes, and only
	// then is its project file parsed for its timeout.
	if run.StartedAt == nil || time.Since(*run.StartedAt) <= 2*time.Minute {
		return false
	}
	timeout := config.DefaultTimeout
	if p, err := config.Parse(config.FileName, []byte(run.ProjectFile)); err == nil {
		timeout = p.Timeout
	}
	return time.Since(*run.StartedAt) > timeout+2*time.Minute
}

// endRun ends a leased run that its runner will not end.
func (s *Server) endRun(ctx context.Context, id, status, reason string) {
	if ok, _ := s.runs.Transition(ctx, id, []string{api.StatusProvisioning, api.StatusRunning}, status, reason, nil); ok {
		s.appendLog(ctx, id, "error: "+reason+"\n")
		s.log.Warn("run ended by the server", "run", id, "status", status, "reason", reason)
		s.runEnded(ctx, id, status, nil)
	}
	s.changed(id)
	s.queueChanged()
}

// watchLeases ends the runs of agents that went silent, queues a run
// leased but never started once more, and says why queued runs wait.
func (s *Server) watchLeases(ctx context.Context) {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.expireLeases(ctx, start)
		s.explainQueue(ctx)
		s.watchLostAgents(ctx)
	}
}

func (s *Server) expireLeases(ctx context.Context, start time.Time) {
	active, err := s.runs.Active(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reading the active runs", "err", err)
		}
		return
	}
	var stored map[string]time.Duration // silences of agents as other servers recorded them
	for _, run := range active {
		s.agents.mu.Lock()
		last, ok := s.agents.seen[run.Agent]
		s.agents.mu.Unlock()
		if !ok {
			last = start // a restarted server gives every agent a full lease timeout
		}
		if time.Since(last) < s.leaseTimeout {
			continue
		}
		if s.runs.Shared() {
			if stored == nil {
				if stored, err = s.runs.AgentSilences(ctx); err != nil {
					// Not knowing is no silence: this round ends nobody's runs.
					s.log.Warn("reading agents' last contacts", "err", err)
					return
				}
			}
			if silence, ok := stored[run.Agent]; ok && silence < s.leaseTimeout {
				continue // it talks to another server
			}
		}
		// Not started: its agent never listed it, and it sent no event.
		if run.Status == api.StatusProvisioning && run.Attempts < 2 {
			s.requeue(ctx, run.ID, fmt.Sprintf("agent %s lost before the run started; queued again", run.Agent))
			continue
		}
		s.endRun(ctx, run.ID, api.StatusFailed, fmt.Sprintf("agent %s lost (no heartbeat for %s)", run.Agent, s.leaseTimeout))
	}
}

// explainQueue gives each queued run no live agent can take the reason.
func (s *Server) explainQueue(ctx context.Context) {
	queued, err := s.runs.Queued(ctx)
	if err != nil || len(queued) == 0 {
		return
	}
	s.agents.mu.Lock()
	var live []runproto.AgentInfo
	for name, at := range s.agents.seen {
		if time.Since(at) < s.leaseTimeout {
			live = append(live, s.agents.info[name])
		}
	}
	s.agents.mu.Unlock()
	if s.runs.Shared() {
		// Agents of the other servers count too.
		silences, err := s.runs.AgentSilences(ctx)
		if err != nil {
			return // the reasons stay as they are until the next round
		}
		if agents, err := s.runs.ListAgents(ctx); err == nil {
			for _, a := range agents {
				if silence, ok := silences[a.Name]; ok && silence < s.leaseTimeout {
					live = append(live, runproto.AgentInfo{Name: a.Name, Labels: a.Labels})
				}
			}
		}
	}
	for _, run := range queued {
		p := runsOn(run)
		reason := ""
		switch {
		case slices.ContainsFunc(live, func(a runproto.AgentInfo) bool { return p.Matches(a.Labels) }):
		case len(p.RunsOn) > 0:
			reason = "waiting for an agent with the labels " + config.LabelString(p.RunsOn) + " (runs_on); no connected agent has them"
		default:
			reason = "waiting for an agent: none is connected"
		}
		if reason != run.Reason {
			_ = s.runs.SetReason(ctx, run.ID, api.StatusQueued, reason)
			s.changed(run.ID)
		}
	}
}

// The HTTP side.

func (s *Server) agentRoutes(mux *http.ServeMux) {
	mux.Handle("POST "+runproto.LeasePath, s.agentAuthed(s.agentLease))
	mux.Handle("POST "+runproto.HeartbeatPath, s.agentAuthed(s.agentHeartbeat))
	mux.Handle("POST /v1/agents", s.allow(rightAdmin, s.createAgent))
	mux.Handle("GET /v1/agents", s.allow(rightRead, s.listAgents))
	mux.Handle("DELETE /v1/agents/{name}", s.allow(rightAdmin, s.revokeAgent))
}

// agentAuthed requires an agent's token: it can lease and report, nothing
// else. The token names the agent, whatever the request says.
func (s *Server) agentAuthed(h func(http.ResponseWriter, *http.Request, record.Agent)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok {
			a, err := s.runs.AgentOfToken(r.Context(), hashToken(token))
			switch {
			case err == nil && !a.Revoked:
				// An agent's requests are small; a big one is an attack on
				// the server's memory.
				r.Body = http.MaxBytesReader(w, r.Body, maxAgentBody)
				h(w, r, a)
				return
			case err != nil && !errors.Is(err, record.ErrNotFound):
				// Not a refusal: the agent must not give up on it.
				writeError(w, http.StatusInternalServerError, "looking the agent up: %v", err)
				return
			}
		}
		writeError(w, http.StatusUnauthorized, "missing, revoked or unknown agent token; see jetway agents token create --help")
	})
}

func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) agentLease(w http.ResponseWriter, r *http.Request, a record.Agent) {
	var req runproto.LeaseRequest
	if !decodeBody(w, r, &req) || !sameAgent(w, req.Agent.Name, a.Name) || !validAgentRequest(w, req.Agent, req.Running) {
		return
	}
	req.Agent = bound(a, req.Agent)
	l, err := s.lease(r.Context(), req, remoteAddr(r))
	switch {
	case err != nil && r.Context().Err() != nil:
		return // the agent hung up
	case errors.Is(err, errAgentRevoked):
		writeError(w, http.StatusUnauthorized, "this agent's token was revoked; see jetway agents token create --help")
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	case l == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) agentHeartbeat(w http.ResponseWriter, r *http.Request, a record.Agent) {
	var req runproto.HeartbeatRequest
	if !decodeBody(w, r, &req) || !sameAgent(w, req.Agent.Name, a.Name) || !validAgentRequest(w, req.Agent, req.Running) {
		return
	}
	req.Agent = bound(a, req.Agent)
	slices.Sort(req.Running)
	req.Running = slices.Compact(req.Running)
	resp, err := s.heartbeat(r.Context(), req, remoteAddr(r))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Bounds of what an agent says of itself.
const (
	maxAgentBody    = 64 << 10
	maxAgentLabels  = 32
	maxAgentRunning = 1024
	// defaultMaxConcurrency is an agent's bound when its token names none.
	defaultMaxConcurrency = 8
)

// validAgentRequest refuses labels that are not labels and lists no agent
// could hold.
func validAgentRequest(w http.ResponseWriter, info runproto.AgentInfo, running []string) bool {
	if len(info.Labels) > maxAgentLabels || len(running) > maxAgentRunning || len(info.Version) > 128 {
		writeError(w, http.StatusBadRequest, "at most %d labels, %d running runs and a version of 128 bytes", maxAgentLabels, maxAgentRunning)
		return false
	}
	for k, v := range info.Labels {
		if !config.ValidLabel(k) || !config.ValidLabel(v) {
			writeError(w, http.StatusBadRequest, "label %.64q=%.64q: letters, digits, -, _ and . only", k, v)
			return false
		}
	}
	return true
}

// bound is what an agent may claim of what it says: the machine facts it
// reports (arch, os) and, of other labels, only those its token allows
// with the same value; no more runs at once than its token allows. An
// agent token reads the secrets of every run it leases, so which runs it
// may take is the operator's decision (jetway agents token create
// --labels), not the agent's.
func bound(a record.Agent, info runproto.AgentInfo) runproto.AgentInfo {
	labels := map[string]string{}
	for k, v := range info.Labels {
		if k == "arch" || k == "os" || a.Allowed[k] == v {
			labels[k] = v
		}
	}
	info.Name, info.Labels = a.Name, labels
	limit := a.MaxConcurrency
	if limit <= 0 {
		limit = defaultMaxConcurrency
	}
	info.Concurrency = min(max(info.Concurrency, 1), limit)
	return info
}

// sameAgent refuses an agent that calls itself by another name than its
// token's: two machines sharing a token would mix up their runs.
func sameAgent(w http.ResponseWriter, said, token string) bool {
	if said != "" && said != token {
		writeError(w, http.StatusBadRequest, "this token belongs to agent %q, not %q: start the agent with --name %s, or create a token for %s (jetway agents token create %s)", token, said, token, said, said)
		return false
	}
	return true
}

var agentNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) {
	var req api.NewAgentRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !agentNameRE.MatchString(req.Name) || serversOwn(req.Name) {
		writeError(w, http.StatusBadRequest, "agent name %q: use lower-case letters, digits, ., _ and - (and neither %q nor %q…, the servers' own)", req.Name, LocalAgent, LocalAgent+"-")
		return
	}
	if !validAgentRequest(w, runproto.AgentInfo{Labels: req.Labels}, nil) {
		return
	}
	if req.MaxConcurrency < 0 || req.MaxConcurrency > 256 {
		writeError(w, http.StatusBadRequest, "max concurrency %d: give 1 to 256 (0: %d)", req.MaxConcurrency, defaultMaxConcurrency)
		return
	}
	token := "jwa_" + newID(24)
	err := s.runs.CreateAgent(r.Context(), req.Name, hashToken(token), req.Labels, req.MaxConcurrency)
	switch {
	case errors.Is(err, record.ErrExists):
		writeError(w, http.StatusConflict, "agent %q exists; revoke it first (jetway agents revoke %s) to make a new token", req.Name, req.Name)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	default:
		noteAudit(r, req.Name, "")
		writeJSON(w, http.StatusCreated, api.NewAgentResponse{Name: req.Name, Token: token})
	}
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	list, err := s.agentList(r.Context())
	if err == nil {
		list, err = s.scopeAgents(r.Context(), principalOf(r.Context()), list)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// agentList is every agent with a token, plus the server's own when it has
// spoken, as they are now.
func (s *Server) agentList(ctx context.Context) ([]api.Agent, error) {
	stored, err := s.runs.ListAgents(ctx)
	if err != nil {
		return nil, err
	}
	active, err := s.runs.Active(ctx)
	if err != nil {
		return nil, err
	}
	running := map[string][]string{}
	for _, r := range active {
		running[r.Agent] = append(running[r.Agent], r.ID)
	}
	var out []api.Agent
	s.agents.mu.Lock()
	defer s.agents.mu.Unlock()
	live := func(a api.Agent) api.Agent {
		if info, ok := s.agents.info[a.Name]; ok {
			a.Labels, a.Version, a.Concurrency = info.Labels, info.Version, info.Concurrency
			seen := s.agents.seen[a.Name].UTC()
			a.LastSeen = &seen
			a.Address = s.agents.address[a.Name]
		}
		a.Running = running[a.Name]
		return a
	}
	if _, ok := s.agents.info[LocalAgent]; ok {
		out = append(out, live(api.Agent{Name: LocalAgent}))
	}
	for _, a := range stored {
		out = append(out, live(a.Agent))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Server) revokeAgent(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if serversOwn(name) {
		writeError(w, http.StatusBadRequest, "%s is a server's own agent, which has no token: stop that server (or start it with --concurrency 0) instead", name)
		return
	}
	// Under the lease lock: no lease lands between the revocation and the
	// end of the agent's runs.
	s.agents.leaseMu.Lock()
	defer s.agents.leaseMu.Unlock()
	err := s.runs.RevokeAgent(r.Context(), name)
	if errors.Is(err, record.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no agent %q (jetway agents ls lists them)", name)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	// Its runs' tokens ended with it: its runners can read and report
	// nothing more; the agent, refused, stops them. The runs end now.
	active, err := s.runs.Active(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "agent %s is revoked, but its runs could not be ended (revoke it again): %v", name, err)
		return
	}
	for _, run := range active {
		if run.Agent == name {
			s.endRun(r.Context(), run.ID, api.StatusCancelled, "agent "+name+" revoked")
		}
	}
	s.agents.mu.Lock()
	delete(s.agents.seen, name)
	delete(s.agents.info, name)
	delete(s.agents.lost, name)
	s.agents.mu.Unlock()
	s.queueChanged() // its waiting lease ends refused
	writeJSON(w, http.StatusOK, map[string]string{"revoked": name})
}
