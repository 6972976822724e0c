package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/record"
)

// Projects' operator settings: what a project's runs may do on their
// Docker host beyond the guard's strict default. Only the API token sets
// them (authed): jetway.yaml, run tokens and agent tokens belong to the
// side the guard contains. A runner learns its project's policy from its
// spec (runSpec), which records it with the run.

func (s *Server) projectRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/projects", s.allow(rightRead, s.listProjects))
	mux.Handle("GET /v1/projects/{name}", s.allow(rightRead, s.getProject))
	mux.Handle("PUT /v1/projects/{name}", s.allow(rightAdmin, s.putProject))
	mux.Handle("DELETE /v1/projects/{name}", s.allow(rightAdmin, s.deleteProject))
}

// checkProjectName refuses a name no project: in jetway.yaml can have.
func checkProjectName(name string) error {
	if !config.ValidProjectName(name) {
		return fmt.Errorf("project name %q: use lower-case letters, digits and - only, as project: in jetway.yaml", name)
	}
	return nil
}

// checkProject checks settings for the project name (from the path) and
// returns them normalised: allowances once each, in api.DockerAllowances'
// order.
func checkProject(name string, p api.Project) (api.Project, error) {
	if err := checkProjectName(name); err != nil {
		return p, err
	}
	if p.Name != "" && p.Name != name {
		return p, fmt.Errorf("the body names project %q, the path %q", p.Name, name)
	}
	allow, err := api.NormalizeDockerAllowances(p.Docker.Allow)
	if err != nil {
		return p, err
	}
	return api.Project{Name: name, Docker: api.DockerPolicy{Allow: allow, ExposeCredentials: p.Docker.ExposeCredentials}}, nil
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	list, err := s.runs.ListProjects(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "listing projects: %v", err)
		return
	}
	list = scopeProjects(principalOf(r.Context()), list)
	if list == nil {
		list = []api.Project{}
	}
	writeJSON(w, http.StatusOK, list)
}

// getProject answers a project's settings; a project without any has
// the strict default, and a zero UpdatedAt.
func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkProjectName(name); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !s.seesNamedProject(w, r) {
		return
	}
	p, err := s.runs.GetProject(r.Context(), name)
	if errors.Is(err, record.ErrNotFound) {
		p, err = api.Project{Name: name}, nil
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading project %s: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) putProject(w http.ResponseWriter, r *http.Request) {
	var req api.Project
	if !decodeBody(w, r, &req) {
		return
	}
	p, err := checkProject(r.PathValue("name"), req)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	stored, err := s.runs.PutProject(r.Context(), p)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "storing project %s: %v", p.Name, err)
		return
	}
	// An operator's change to what the guard lets through is worth a
	// line in the server's log: who holds the API token did it.
	s.log.Info("project settings changed", "project", stored.Name, "docker", stored.Docker.String(), "from", r.RemoteAddr)
	writeJSON(w, http.StatusOK, stored)
}

// deleteProject puts a project back on the strict default; a project
// without settings is there already, which is no error.
func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkProjectName(name); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	err := s.runs.DeleteProject(r.Context(), name)
	if err != nil && !errors.Is(err, record.ErrNotFound) {
		writeError(w, http.StatusInternalServerError, "resetting project %s: %v", name, err)
		return
	}
	if err == nil {
		s.log.Info("project settings reset", "project", name, "from", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, api.Project{Name: name})
}
