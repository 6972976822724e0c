package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/web"
)

// Reruns: a new run of a past run's bundle, project file, environment,
// passed and given variables (the given ones overridden by the rerun's),
// with its references resolved anew.

// errNoSource refuses a rerun of a run whose source is no longer stored.
var errNoSource = errors.New("source no longer stored")

// errForbidden is a refusal of the token's rights.
type errForbidden struct{ msg string }

func (e *errForbidden) Error() string { return e.msg }

// rerun queues a rerun of run id with the rights of who, who reruns it:
// its project must be one who may deploy, and its references ones who
// grants.
func (s *Server) rerun(ctx context.Context, who principal, id string, req api.RerunRequest) (record.Run, error) {
	old, err := s.runs.GetRun(ctx, id)
	if err != nil {
		return old, err
	}
	if !who.seesProject(old.Project) {
		return old, &errForbidden{fmt.Sprintf("token %s may not see or act on project %s (its projects: %s)", who.Name, old.Project, strings.Join(who.Projects, ","))}
	}
	m, err := s.runs.GetBundle(ctx, old.Bundle)
	if errors.Is(err, record.ErrNotFound) {
		return old, fmt.Errorf("%w: the source of run %s (bundle %s) was pruned by the server's retention; deploy that commit again (%s)", errNoSource, old.ID, old.Bundle, old.Git.String())
	}
	if err != nil {
		return old, err
	}
	missing := 0
	for _, h := range bundle.Hashes(m) {
		ok, err := s.blobs.Has(ctx, h)
		if err != nil {
			return old, err
		}
		if !ok {
			missing++
		}
	}
	if missing > 0 {
		return old, fmt.Errorf("%w: %d of the files of run %s are no longer stored on the server (pruned); deploy that commit again (%s)", errNoSource, missing, old.ID, old.Git.String())
	}
	vars := maps.Clone(old.RunVars)
	if len(req.Vars) > 0 && vars == nil {
		vars = map[string]string{}
	}
	maps.Copy(vars, req.Vars)
	run, err := newRun(api.NewRunRequest{ProjectFile: old.ProjectFile, Env: old.Env, Bundle: old.Bundle, Git: old.Git, Pass: old.Pass, StartedBy: req.StartedBy, Vars: vars})
	if err != nil {
		return run, &badRequest{err}
	}
	run.RerunOf = old.ID
	run.Token, run.Grants = who.Name, who.grants()
	if refused := ungranted(run); len(refused) > 0 {
		return run, &errForbidden{fmt.Sprintf("token %s may not resolve %s; an admin grants references with jetway tokens create --params (its grants: %s)",
			who.Name, strings.Join(refused, ", "), cmp.Or(strings.Join(who.Params, ","), "none"))}
	}
	return run, s.queueRun(ctx, &run)
}

// badRequest is an error of the request, not of the server.
type badRequest struct{ err error }

func (e *badRequest) Error() string { return e.err.Error() }
func (e *badRequest) Unwrap() error { return e.err }

func (s *Server) rerunRun(w http.ResponseWriter, r *http.Request) {
	var req api.RerunRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "the request body is not valid: %v", err)
		return
	}
	who := principalOf(r.Context())
	run, err := s.rerun(r.Context(), who, r.PathValue("id"), req)
	var bad *badRequest
	var forbidden *errForbidden
	switch {
	case errors.As(err, &forbidden):
		s.refuse(w, r, who, run.Project, "%s", forbidden.msg)
	case errors.Is(err, record.ErrNotFound):
		writeError(w, http.StatusNotFound, "no run %q; it may have been pruned by the server's retention (--retain-runs, --retain-days); list them with `jetway runs`", r.PathValue("id"))
	case errors.Is(err, errNoSource):
		writeError(w, http.StatusGone, "cannot rerun: %v", err)
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, "%v", err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	default:
		s.auditOK(r, "rerun", run.Project, "run "+run.ID+" reruns "+run.RerunOf)
		writeJSON(w, http.StatusCreated, run.Run)
	}
}

// RerunRun reruns a run from the dashboard's Rerun button, with the
// rights of the token the session was signed in with.
func (d dashboardSource) RerunRun(ctx context.Context, id string) (api.Run, error) {
	who, err := d.need(ctx, rightDeploy, "dashboard rerun", id)
	if err != nil {
		return api.Run{}, err
	}
	run, err := d.s.rerun(ctx, who, id, api.RerunRequest{StartedBy: "dashboard"})
	var forbidden *errForbidden
	switch {
	case errors.Is(err, record.ErrNotFound):
		return api.Run{}, fmt.Errorf("no run %q; it may have been pruned by the server's retention", id)
	case errors.As(err, &forbidden):
		d.s.audit(ctx, who.Name, "dashboard rerun", id, forbidden.msg, api.OutcomeRefused)
		return api.Run{}, fmt.Errorf("%w: %s", web.ErrForbidden, forbidden.msg)
	case err != nil:
		return api.Run{}, err
	}
	d.s.audit(ctx, who.Name, "rerun", run.Project, "run "+run.ID+" reruns "+run.RerunOf+" (dashboard)", api.OutcomeOK)
	return run.Run, nil
}
