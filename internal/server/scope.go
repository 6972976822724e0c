package server

import (
	"context"
	"net/http"
	"slices"

	"github.com/jetway-dev/jetway/internal/api"
)

// What a token limited to some projects (jetway tokens create --projects)
// sees of what all projects share: agents, projects' settings, Docker
// hosts. The shared things themselves stay visible; the names and runs of
// other projects in them do not.

// scopeAgents drops, from each agent, the runs of projects p may not see.
func (s *Server) scopeAgents(ctx context.Context, p principal, list []api.Agent) ([]api.Agent, error) {
	if len(p.Projects) == 0 {
		return list, nil
	}
	active, err := s.runs.Active(ctx)
	if err != nil {
		return nil, err
	}
	visible := map[string]bool{}
	for _, r := range active {
		visible[r.ID] = p.seesProject(r.Project)
	}
	for i := range list {
		list[i].Running = slices.DeleteFunc(slices.Clone(list[i].Running), func(id string) bool { return !visible[id] })
	}
	return list, nil
}

// scopeProjects keeps the projects p may see.
func scopeProjects(p principal, list []api.Project) []api.Project {
	return slices.DeleteFunc(list, func(pr api.Project) bool { return !p.seesProject(pr.Name) })
}

// scopeHosts drops, from each host, the names of projects p may not see
// (their number stays: it is the host's load, not theirs).
func scopeHosts(p principal, list []api.DockerHost) []api.DockerHost {
	if len(p.Projects) == 0 {
		return list
	}
	for i := range list {
		if st := list[i].State; st != nil {
			scoped := *st
			scoped.HomeProjects = slices.DeleteFunc(slices.Clone(st.HomeProjects), func(name string) bool { return !p.seesProject(name) })
			list[i].State = &scoped
		}
	}
	return list
}

// seesNamedProject answers 403 for a project the request's token may not
// see, as checkProject does, for routes named by a project.
func (s *Server) seesNamedProject(w http.ResponseWriter, r *http.Request) bool {
	return s.checkProject(w, r, r.PathValue("name"))
}
