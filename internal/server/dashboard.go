package server

import (
	"context"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/web"
)

// dashboardSource lets the dashboard read what the API serves.
type dashboardSource struct{ s *Server }

var _ web.Source = dashboardSource{}

func (d dashboardSource) ListRuns(ctx context.Context, project, status string, limit int) ([]api.Run, error) {
	var statuses []string
	if status != "" {
		statuses = strings.Split(status, ",")
	}
	runs, err := d.s.runs.ListRuns(ctx, project, statuses, limit)
	out := make([]api.Run, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.Run)
	}
	return out, err
}

func (d dashboardSource) GetRun(ctx context.Context, id string) (api.Run, error) {
	r, err := d.s.runs.GetRun(ctx, id)
	return r.Run, err
}

func (d dashboardSource) ReadLog(ctx context.Context, id string, after int64) ([]web.Chunk, error) {
	chunks, err := d.s.runs.ReadLog(ctx, id, after)
	out := make([]web.Chunk, 0, len(chunks))
	for _, c := range chunks {
		out = append(out, web.Chunk{Seq: c.Seq, Data: c.Data})
	}
	return out, err
}

func (d dashboardSource) LogChanged(id string) <-chan struct{} { return d.s.hub.wait(id) }

func (d dashboardSource) CancelRun(ctx context.Context, id string) error {
	_, err := d.s.cancel(ctx, id)
	return err
}

func (d dashboardSource) ListParams(ctx context.Context) ([]api.ParamInfo, error) {
	var out []api.ParamInfo
	for token := ""; ; {
		page, next, err := d.s.store.DescribeParameters(ctx, 50, token)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			out = append(out, info(p))
		}
		if next == "" {
			return out, nil
		}
		token = next
	}
}

func (d dashboardSource) ListAgents(ctx context.Context) ([]api.Agent, error) {
	return d.s.agentList(ctx)
}

func (d dashboardSource) LeaseTimeout() time.Duration { return d.s.leaseTimeout }

func (d dashboardSource) ListHosts(ctx context.Context) ([]api.DockerHost, error) {
	return d.s.hostsNow(ctx, "")
}
