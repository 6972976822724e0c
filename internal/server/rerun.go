package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

// Reruns: a new run of a past run's bundle, project file, environment,
// passed and given variables (the given ones overridden by the rerun's),
// with its references resolved anew.

// errNoSource refuses a rerun of a run whose source is no longer stored.
var errNoSource = errors.New("source no longer stored")

// rerun queues a rerun of run id.
func (s *Server) rerun(ctx context.Context, id string, req api.RerunRequest) (storepkg.StoredRun, error) {
	old, err := s.runs.GetRun(ctx, id)
	if err != nil {
		return old, err
	}
	m, err := s.runs.GetBundle(ctx, old.Bundle)
	if errors.Is(err, storepkg.ErrNotFound) {
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
	run, err := s.rerun(r.Context(), r.PathValue("id"), req)
	var bad *badRequest
	switch {
	case errors.Is(err, storepkg.ErrNotFound):
		writeError(w, http.StatusNotFound, "no run %q; it may have been pruned by the server's retention (--retain-runs, --retain-days); list them with `jetway runs`", r.PathValue("id"))
	case errors.Is(err, errNoSource):
		writeError(w, http.StatusGone, "cannot rerun: %v", err)
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, "%v", err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	default:
		writeJSON(w, http.StatusCreated, run.Run)
	}
}

// RerunRun reruns a run from the dashboard's Rerun button.
func (d dashboardSource) RerunRun(ctx context.Context, id string) (api.Run, error) {
	run, err := d.s.rerun(ctx, id, api.RerunRequest{StartedBy: "dashboard"})
	if errors.Is(err, storepkg.ErrNotFound) {
		return api.Run{}, fmt.Errorf("no run %q; it may have been pruned by the server's retention", id)
	}
	return run.Run, err
}
