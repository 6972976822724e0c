package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/runstream"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

func (s *Server) runRoutes(mux *http.ServeMux) {
	mux.Handle("POST /v1/bundles/missing", s.allow(rightDeploy, s.missingBlobs))
	mux.Handle("PUT /v1/blobs/{hash}", s.allow(rightDeploy, s.putBlob))
	mux.Handle("POST /v1/bundles", s.allow(rightDeploy, s.putBundle))
	mux.Handle("POST /v1/runs", s.allow(rightDeploy, s.createRun))
	mux.Handle("GET /v1/runs", s.allow(rightRead, s.listRuns))
	mux.Handle("GET /v1/runs/{id}", s.allow(rightRead, s.getRun))
	mux.Handle("GET /v1/runs/{id}/logs", s.allow(rightRead, s.runLogs))
	mux.Handle("POST /v1/runs/{id}/cancel", s.allow(rightDeploy, s.cancelRun))
	mux.Handle("POST /v1/runs/{id}/rerun", s.allow(rightDeploy, s.rerunRun))
	mux.Handle("GET /v1/runs/{id}/artifacts", s.allow(rightRead, s.listArtifacts))
	mux.Handle("GET /v1/runs/{id}/artifacts/{name...}", s.allow(rightRead, s.getArtifact))
	// The runner's routes take its run token.
	mux.Handle("GET /v1/runs/{id}/spec", s.runAuthed(afterEndRefused, s.runSpec))
	mux.Handle("GET /v1/runs/{id}/bundle", s.runAuthed(afterEndRefused, s.runBundle))
	mux.Handle("POST /v1/runs/{id}/events", s.runAuthed(afterEndEvents, s.runEvents))
	mux.Handle("PUT /v1/runs/{id}/artifacts/chunks/{hash}", s.runAuthed(afterEndConflict, s.putArtifactChunk))
	mux.Handle("POST /v1/runs/{id}/artifacts", s.runAuthed(afterEndConflict, s.addArtifact))
}

// runTokenOf returns the run a bearer token belongs to, if it is a live
// run's token. Tokens are stored hashed with their run, so they outlive a
// restart of the server: runs on agents go on.
func (s *Server) runTokenOf(r *http.Request) (string, bool) {
	run, err := s.tokenRun(r)
	if err != nil && !errors.Is(err, record.ErrNotFound) {
		s.log.Error("looking a run token up", "err", err)
	}
	return run.ID, err == nil && !api.Finished(run.Status)
}

// tokenRun is the run whose token the request bears; ErrNotFound when it
// bears none.
func (s *Server) tokenRun(r *http.Request) (record.Run, error) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !strings.HasPrefix(got, "jwr_") {
		return record.Run{}, record.ErrNotFound
	}
	return s.runs.RunOfToken(r.Context(), hashToken(got))
}

// eventsGrace is how long after its end a run's token still reports
// events: a runner whose answer to the summary was lost sends it again.
const eventsGrace = 10 * time.Minute

// afterEnd is what a run's route answers its token once the run has
// ended (within eventsGrace; after it, every route answers 401).
type afterEnd int

const (
	// afterEndRefused: 401, as for a wrong token.
	afterEndRefused afterEnd = iota
	// afterEndEvents: served; the only late requests a run makes.
	afterEndEvents
	// afterEndConflict: 409; the token is right, but what the run adds
	// (artifacts) ended with its summary: users have seen the run's end.
	afterEndConflict
)

// runAuthed requires the run token of the run in the path, while the run
// lives; after its end, see afterEnd.
func (s *Server) runAuthed(ended afterEnd, h func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		run, err := s.tokenRun(r)
		if err != nil && !errors.Is(err, record.ErrNotFound) {
			// Not a wrong token: a 401 would make the runner give up.
			writeError(w, http.StatusInternalServerError, "looking the run token up: %v", err)
			return
		}
		if err != nil || run.ID != r.PathValue("id") {
			writeError(w, http.StatusUnauthorized, "missing or wrong run token")
			return
		}
		if api.Finished(run.Status) {
			late := run.FinishedAt != nil && time.Since(*run.FinishedAt) < eventsGrace
			switch {
			case late && ended == afterEndEvents:
			case late && ended == afterEndConflict:
				writeError(w, http.StatusConflict, "run %s has ended (%s): it takes no more artifacts after its summary", run.ID, run.Status)
				return
			default:
				writeError(w, http.StatusUnauthorized, "missing or wrong run token")
				return
			}
		}
		h(w, r)
	})
}

// allowOrRun accepts a run token, or an API token with right need.
func (s *Server) allowOrRun(need right, h func(http.ResponseWriter, *http.Request)) http.Handler {
	api := s.allow(need, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.runTokenOf(r); ok {
			h(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "the request body is not valid: %v", err)
		return false
	}
	return true
}

func (s *Server) missingBlobs(w http.ResponseWriter, r *http.Request) {
	var req api.MissingRequest
	if !decodeBody(w, r, &req) {
		return
	}
	out := api.MissingResponse{Missing: []string{}}
	for _, h := range req.Hashes {
		ok, err := s.blobs.Has(r.Context(), h)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "looking up blob %s: %v", h, err)
			return
		}
		if !ok {
			out.Missing = append(out.Missing, h)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// putBlob stores one zstd-compressed content. The client declares its size
// with ?size=N (the manifest's), which bounds decompression; without it
// bundle.MaxBlobSize does.
func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	size := int64(-1)
	if q := r.URL.Query().Get("size"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "blob %s: size %q is not a number of bytes", hash, q)
			return
		}
		size = n
	}
	s.storeBlob(w, r, "blob", hash, size, http.MaxBytesReader(w, r.Body, 2<<30))
}

// storeBlob stores a zstd-compressed body as blob hash (size bounds its
// decompression) and answers how many compressed bytes it read.
func (s *Server) storeBlob(w http.ResponseWriter, r *http.Request, what, hash string, size int64, body io.Reader) {
	n, err := s.blobs.Put(r.Context(), hash, size, body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%s %s: %v", what, hash, err)
		return
	}
	s.metrics.Uploaded(n)
	writeJSON(w, http.StatusOK, map[string]int64{"bytes": n})
}

func (s *Server) putBundle(w http.ResponseWriter, r *http.Request) {
	var m api.Manifest
	if !decodeBody(w, r, &m) {
		return
	}
	if err := bundle.Validate(m); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var missing []string
	for _, h := range bundle.Hashes(m) {
		ok, err := s.blobs.Has(r.Context(), h)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "looking up blob %s: %v", h, err)
			return
		}
		if !ok {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, "the bundle needs %d blob(s) the server lacks; upload them first (PUT /v1/blobs/HASH)", len(missing))
		return
	}
	// The stream a runner gets holds each file at the manifest's size; a
	// size its content does not have would only fail the run later.
	for _, f := range m.Files {
		if f.SHA256 == "" {
			continue
		}
		size, err := s.blobs.Size(r.Context(), f.SHA256)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "bundle file %q: reading the size of blob %s: %v", f.Path, f.SHA256, err)
			return
		}
		if size != f.Size {
			writeError(w, http.StatusBadRequest, "bundle file %q: the manifest says %d bytes, but its content (blob %s) has %d", f.Path, f.Size, f.SHA256, size)
			return
		}
	}
	id := bundle.ID(m)
	if err := s.runs.PutBundle(r.Context(), id, m); err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) {
	var req api.NewRunRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if _, err := s.runs.GetBundle(r.Context(), req.Bundle); err != nil {
		writeError(w, http.StatusBadRequest, "bundle %q is unknown; upload it first (POST /v1/bundles)", req.Bundle)
		return
	}
	run, err := newRun(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !s.startedBy(w, r, &run) {
		return
	}
	if err := s.queueRun(r.Context(), &run); err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	detail := "run " + run.ID
	if run.Env != "" {
		detail += " env " + run.Env
	}
	s.auditOK(r, "deploy", run.Project, detail)
	writeJSON(w, http.StatusCreated, run.Run)
}

// startedBy gives a new run the rights of the request's token: its
// project must be one the token may deploy, and every reference the run
// would resolve one the token grants — else the run is refused before it
// is queued, naming each reference it may not read (whose value is never
// fetched). The run records the token's name and grants: its scoped key
// pair covers only what they allow.
func (s *Server) startedBy(w http.ResponseWriter, r *http.Request, run *record.Run) bool {
	p := principalOf(r.Context())
	if !s.checkProject(w, r, run.Project) {
		return false
	}
	run.Token, run.Grants = p.Name, p.grants()
	if refused := ungranted(*run); len(refused) > 0 {
		s.refuse(w, r, p, run.Project, "token %s may not resolve %s; an admin grants references with jetway tokens create --params (its grants: %s)",
			p.Name, strings.Join(refused, ", "), cmp.Or(strings.Join(p.Params, ","), "none"))
		return false
	}
	return true
}

// newRun makes a queued run of req, after checking its project file with
// the variables given for it (names, references, env.block).
func newRun(req api.NewRunRequest) (record.Run, error) {
	if req.Env != "" {
		if err := config.ValidEnvName(req.Env); err != nil {
			return record.Run{}, err
		}
	}
	p, err := config.ParseWithVars(config.FileName, []byte(req.ProjectFile), req.Vars)
	if err != nil {
		return record.Run{}, err
	}
	if _, err := p.References(p.Env(req.Env)); err != nil {
		return record.Run{}, err
	}
	// The client filters too; a hand-made request must not get a
	// JETWAY_TOKEN stored with the run either.
	var clientEnv []string
	for k, v := range req.Pass {
		clientEnv = append(clientEnv, k+"="+v)
	}
	pass, _ := p.PassEnv(clientEnv)
	run := record.Run{
		Run: api.Run{ID: newID(4), Project: p.Project, Status: api.StatusQueued, Env: p.Env(req.Env), StartedBy: req.StartedBy,
			Git: req.Git, Bundle: req.Bundle, CreatedAt: time.Now().UTC()},
		ProjectFile: req.ProjectFile, Pass: pass, RunsOn: p.RunsOn, RunVars: req.Vars,
	}
	run.Vars = config.ShownVars(req.Vars)
	if run.RunsOn == nil {
		run.RunsOn = map[string]string{}
	}
	return run, nil
}

// queueRun stores a new run, drawing another id if its own is taken, and
// wakes the agents.
func (s *Server) queueRun(ctx context.Context, run *record.Run) error {
	err := s.runs.CreateRun(ctx, *run)
	for range 3 {
		if !sqldb.IsUniqueViolation(err) {
			break
		}
		run.ID = newID(4) // taken: ids are short, and servers draw them apart
		err = s.runs.CreateRun(ctx, *run)
	}
	if err != nil {
		return err
	}
	s.log.Info("run queued", "run", run.ID, "project", run.Project, "rerun_of", run.RerunOf)
	s.queueChanged()
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var statuses []string
	if st := q.Get("status"); st != "" {
		statuses = strings.Split(st, ",")
	}
	p := principalOf(r.Context())
	project := q.Get("project")
	if project != "" && !s.checkProject(w, r, project) {
		return
	}
	out, err := s.visibleRuns(r.Context(), p, project, statuses, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleRunsFetch is how far back visibleRuns looks for the runs of a
// token limited to some projects: the others' are dropped.
const visibleRunsFetch = 1000

// visibleRuns lists at most limit of the newest runs of project ("": any)
// in statuses (nil: any) that p may see, for the API's list and the
// dashboard's. A token limited to some projects sees its runs among the
// newest visibleRunsFetch.
func (s *Server) visibleRuns(ctx context.Context, p principal, project string, statuses []string, limit int) ([]api.Run, error) {
	fetch := limit
	if len(p.Projects) > 0 && !(project != "" && p.seesProject(project)) {
		fetch = max(limit, visibleRunsFetch)
	}
	runs, err := s.runs.ListRuns(ctx, project, statuses, fetch)
	if err != nil {
		return nil, err
	}
	out := make([]api.Run, 0, min(len(runs), limit))
	for _, run := range runs {
		if p.seesProject(run.Project) && len(out) < limit {
			out = append(out, run.Run)
		}
	}
	return out, nil
}

func (s *Server) lookupRun(w http.ResponseWriter, r *http.Request) (record.Run, bool) {
	run, err := s.runs.GetRun(r.Context(), r.PathValue("id"))
	if errors.Is(err, record.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no run %q; list them with `jetway runs`", r.PathValue("id"))
		return run, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return run, false
	}
	return run, s.checkProject(w, r, run.Project)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	arts, err := s.runs.ListArtifacts(r.Context(), run.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	run.Artifacts = arts
	writeJSON(w, http.StatusOK, run.Run)
}

// runLogs answers the stored log as text, or with ?follow=1 as a stream of
// server-sent events that ends with an "end" event carrying the status.
// Followers read from storage, so a late follower sees everything.
func (s *Server) runLogs(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if r.URL.Query().Get("follow") == "" {
		chunks, err := s.runs.ReadLog(ctx, run.ID, 0)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, c := range chunks {
			_, _ = io.WriteString(w, c.Data)
		}
		return
	}
	var after int64
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		after, _ = strconv.ParseInt(last, 10, 64)
	}
	runstream.StreamLog(ctx, w, logSource{s}, run.ID, after)
}

// errAlreadyEnded is returned when cancelling a run that has ended.
var errAlreadyEnded = errors.New("the run has already ended")

// cancel stops a queued run at once, or asks a running run's runner to
// stop; it returns the status the run is heading for.
func (s *Server) cancel(ctx context.Context, id string) (string, error) {
	run, err := s.runs.GetRun(ctx, id)
	if err != nil {
		return "", err
	}
	if done, err := s.runs.Transition(ctx, run.ID, []string{api.StatusQueued}, api.StatusCancelled, "cancelled before it started", nil); err != nil {
		return "", err
	} else if done {
		s.appendLog(ctx, run.ID, "cancelled before it started\n")
		s.runEnded(ctx, run.ID, api.StatusCancelled, nil)
		return api.StatusCancelled, nil
	}
	if api.Finished(run.Status) {
		return run.Status, errAlreadyEnded
	}
	// Its agent stops it at its next heartbeat, within about a second; the
	// runner then reports the run cancelled. An agent that has gone silent
	// loses the run at its lease timeout.
	if err := s.runs.RequestCancel(ctx, run.ID); err != nil {
		return "", err
	}
	return "cancelling", nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	status, err := s.cancel(r.Context(), run.ID)
	if err == nil {
		s.auditOK(r, "stop", run.Project, "run "+run.ID)
	}
	switch {
	case errors.Is(err, errAlreadyEnded):
		writeError(w, http.StatusConflict, "run %s has already ended (%s)", run.ID, status)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": status})
	}
}

func (s *Server) runSpec(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	// The Docker policy is the project's at this moment, recorded with
	// the run before the runner gets it: a run shows what it was allowed,
	// and a rerun gets the settings of its own start.
	docker, err := s.runs.GrantDockerPolicy(r.Context(), run.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading project %s's Docker policy: %v", run.Project, err)
		return
	}
	// A project of a pool gets its host now, from the pool as it is: the
	// run's credentials then cover that host's (runRefs).
	host, err := s.assignDockerHost(r.Context(), run)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "choosing the Docker host of run %s: %v", run.ID, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RunSpec{RunID: run.ID, ProjectFile: run.ProjectFile, Env: run.Env, Git: run.Git, Pass: run.Pass, Vars: run.RunVars, Docker: docker,
		DockerHost: host})
}

func (s *Server) runBundle(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	m, err := s.runs.GetBundle(r.Context(), run.Bundle)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/zstd")
	// A missing or damaged blob ends the stream with the reason, and the
	// runner fails the run with it; the operator gets it here too.
	if err := s.blobs.WriteTar(r.Context(), w, m); err != nil {
		s.log.Error("sending a bundle", "run", run.ID, "err", err)
	}
}

// runEvents takes a batch of the runner's (masked, numbered) events; see
// runproto for the protocol. Their text goes into the log once however
// often they are sent, the first batch marks the run running, the summary
// ends it.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// An ended run takes no new event: a runner that resends its last
	// batch learns what was stored, and nothing forges the log's end.
	if run, err := s.runs.GetRun(r.Context(), id); err == nil && api.Finished(run.Status) {
		acked, err := s.runs.EventsAcked(r.Context(), id)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, runproto.EventsAck{Acked: acked})
		return
	}
	runproto.HandleEvents(w, r, countingEvents{s.runs, s}, id, func(ctx context.Context, events []api.Event) error {
		defer s.changed(id)
		if _, err := s.runs.Transition(ctx, id, []string{api.StatusProvisioning}, api.StatusRunning, "", nil); err != nil {
			return err
		}
		for _, e := range events {
			if e.Type != "summary" || e.Summary == nil {
				continue
			}
			summary := e.Summary
			if !api.Finished(summary.Status) {
				summary.Status = api.StatusFailed
			}
			// A run that has ended already (this batch was sent again)
			// stays as it is.
			done, err := s.runs.Transition(ctx, id, []string{api.StatusProvisioning, api.StatusRunning}, summary.Status, summary.Error, summary)
			if err != nil {
				return err
			}
			if done {
				s.recordHostUse(ctx, id, summary)
				s.runEnded(ctx, id, summary.Status, summary)
				s.dropRunChunks(ctx, id)
				s.log.Info("run finished", "run", id, "status", summary.Status)
				s.queueChanged() // its project is free
			}
		}
		return nil
	})
}

func (s *Server) appendLog(ctx context.Context, id, text string) {
	if _, err := s.runs.AppendLog(ctx, id, text); err != nil {
		s.log.Error("appending to a run's log", "run", id, "err", err)
	} else {
		s.countLines(text)
	}
	s.changed(id)
}

// hub wakes log followers when a run's log or status changes.
type hub struct {
	mu    sync.Mutex
	chans map[string]chan struct{}
}

func newHub() *hub { return &hub{chans: map[string]chan struct{}{}} }

// wait returns a channel that is closed at the run's next change.
func (h *hub) wait(id string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.chans[id]
	if !ok {
		c = make(chan struct{})
		h.chans[id] = c
	}
	return c
}

// notifyAll wakes every follower.
func (h *hub) notifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, c := range h.chans {
		close(c)
		delete(h.chans, id)
	}
}

func (h *hub) notify(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.chans[id]; ok {
		close(c)
		delete(h.chans, id)
	}
}

// ungranted lists, sorted, the references of a run's project file and
// variables its grants do not cover.
func ungranted(run record.Run) []string {
	var refused []string
	for _, ref := range projectRefs(run) {
		if !mayResolve(run.Grants, ref) {
			refused = append(refused, ref.String())
		}
	}
	slices.Sort(refused)
	return slices.Compact(refused)
}

// runRefs lists what a run's token may read: the references of its
// project file and of the variables given for it (-e) that its grants
// cover — a run whose references its token did not grant is refused
// before it is queued, so this is all of them, unless the grants changed
// meaning since — and the credentials of the Docker hosts of its pool it
// was handed, which its operator set.
func runRefs(run record.Run) (parameters, secrets []string) {
	var all []config.Ref
	for _, ref := range projectRefs(run) {
		if mayResolve(run.Grants, ref) {
			all = append(all, ref)
		}
	}
	all = append(all, hostRefs(run)...)
	for _, ref := range all {
		if ref.Store == config.SecretsManager {
			secrets = append(secrets, ref.Name)
		} else {
			parameters = append(parameters, ref.Name)
		}
	}
	return parameters, secrets
}

// projectRefs lists the references a run's project file and given
// variables make: its variables' and its build's secrets (image.secrets,
// which the runner reads and never makes variables of the phases). A
// project file that does not parse makes none.
func projectRefs(run record.Run) []config.Ref {
	p, err := config.ParseWithVars(config.FileName, []byte(run.ProjectFile), run.RunVars)
	if err != nil {
		return nil
	}
	refs, err := p.References(run.Env)
	if err != nil {
		return nil
	}
	var all []config.Ref
	for _, ref := range refs {
		all = append(all, ref)
	}
	if p.Image != nil {
		secrets, err := p.Image.SecretReferences(p.Path, run.Env)
		if err != nil {
			return nil
		}
		for _, ref := range secrets {
			all = append(all, ref)
		}
	}
	return all
}

// hostRefs lists the credentials of the Docker hosts of its pool a run
// was handed.
func hostRefs(run record.Run) []config.Ref {
	if run.DockerHost == nil {
		return nil
	}
	var all []config.Ref
	for _, c := range run.DockerHost.Candidates {
		for _, v := range []string{c.SSHKey, c.KnownHosts, c.TLSCA, c.TLSCert, c.TLSKey} {
			if ref, ok, err := config.ParseRef(v); ok && err == nil {
				all = append(all, ref)
			}
		}
	}
	return all
}
