package apiclient

import (
	"context"
	"net/url"

	"github.com/jetway-dev/jetway/internal/api"
)

// AgentsService administers agents; the agents' own protocol (lease,
// heartbeat) is runproto's.
type AgentsService struct{ c *Client }

// Create registers an agent; its token is in the answer, this once.
func (s AgentsService) Create(ctx context.Context, req api.NewAgentRequest) (api.NewAgentResponse, error) {
	var out api.NewAgentResponse
	err := s.c.call(ctx, api.RouteCreateAgent, api.AgentsPath, nil, req, &out)
	return out, err
}

// List lists the agents as they are now.
func (s AgentsService) List(ctx context.Context) ([]api.Agent, error) {
	var agents []api.Agent
	err := s.c.call(ctx, api.RouteListAgents, api.AgentsPath, nil, nil, &agents)
	return agents, err
}

// Revoke revokes the agent called name.
func (s AgentsService) Revoke(ctx context.Context, name string) error {
	return s.c.call(ctx, api.RouteRevokeAgent, api.AgentPath(name), nil, nil, nil)
}

// ProjectsService reaches projects' server-side settings.
type ProjectsService struct{ c *Client }

// List lists the projects with settings.
func (s ProjectsService) List(ctx context.Context) ([]api.Project, error) {
	var projects []api.Project
	err := s.c.call(ctx, api.RouteListProjects, api.ProjectsPath, nil, nil, &projects)
	return projects, err
}

// Get reads project name's settings (the defaults for one never set).
func (s ProjectsService) Get(ctx context.Context, name string) (api.Project, error) {
	var p api.Project
	err := s.c.call(ctx, api.RouteGetProject, api.ProjectPath(name), nil, nil, &p)
	return p, err
}

// Put replaces project p.Name's settings, and returns them as stored.
func (s ProjectsService) Put(ctx context.Context, p api.Project) (api.Project, error) {
	var stored api.Project
	err := s.c.call(ctx, api.RoutePutProject, api.ProjectPath(p.Name), nil, p, &stored)
	return stored, err
}

// Delete resets project name's settings to the defaults.
func (s ProjectsService) Delete(ctx context.Context, name string) error {
	return s.c.call(ctx, api.RouteDeleteProject, api.ProjectPath(name), nil, nil, nil)
}

// HostsService reaches the server's Docker host pool.
type HostsService struct{ c *Client }

// List lists the hosts, of pool only when it is not "".
func (s HostsService) List(ctx context.Context, pool string) ([]api.DockerHost, error) {
	q := url.Values{}
	if pool != "" {
		q.Set("pool", pool)
	}
	var list []api.DockerHost
	err := s.c.call(ctx, api.RouteListHosts, api.HostsPath, q, nil, &list)
	return list, err
}

// Get reads the host called name, with its state.
func (s HostsService) Get(ctx context.Context, name string) (api.DockerHost, error) {
	var h api.DockerHost
	err := s.c.call(ctx, api.RouteGetHost, api.HostPath(name), nil, nil, &h)
	return h, err
}

// Add adds host h, and returns it as stored.
func (s HostsService) Add(ctx context.Context, h api.DockerHost) (api.DockerHost, error) {
	var stored api.DockerHost
	err := s.c.call(ctx, api.RouteAddHost, api.HostsPath, nil, h, &stored)
	return stored, err
}

// Put replaces host h.Name's settings, and returns it as stored.
func (s HostsService) Put(ctx context.Context, h api.DockerHost) (api.DockerHost, error) {
	var stored api.DockerHost
	err := s.c.call(ctx, api.RoutePutHost, api.HostPath(h.Name), nil, h, &stored)
	return stored, err
}

// Delete removes the host called name.
func (s HostsService) Delete(ctx context.Context, name string) error {
	return s.c.call(ctx, api.RouteDeleteHost, api.HostPath(name), nil, nil, nil)
}

// Drain stops the host called name taking new runs (undo: takes them
// again); its runs go on.
func (s HostsService) Drain(ctx context.Context, name string, undo bool) (api.DockerHost, error) {
	var q url.Values
	if undo {
		q = url.Values{"undo": {"1"}}
	}
	var h api.DockerHost
	err := s.c.call(ctx, api.RouteDrainHost, api.HostDrainPath(name), q, nil, &h)
	return h, err
}

// GC collects the host called name to its policy now (dryRun: says what
// it would remove).
func (s HostsService) GC(ctx context.Context, name string, dryRun bool) (api.GCReport, error) {
	var q url.Values
	if dryRun {
		q = url.Values{"dry_run": {"1"}}
	}
	var r api.GCReport
	err := s.c.call(ctx, api.RouteGCHost, api.HostGCPath(name), q, nil, &r)
	return r, err
}
