package apiclient

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/jetway-dev/jetway/internal/api"
)

// RunsService reaches runs: create, list, read, cancel, rerun, their logs
// and artifacts.
type RunsService struct{ c *Client }

// RunListOptions filter a list of runs; the zero value lists the server's
// default number of the latest runs.
type RunListOptions struct {
	Project  string
	Statuses []string // api.Status*; any of them
	Limit    int      // 0: the server's default (100); at most 1000
}

// List lists runs, the latest first.
func (s RunsService) List(ctx context.Context, opts RunListOptions) ([]api.Run, error) {
	q := url.Values{}
	if opts.Project != "" {
		q.Set("project", opts.Project)
	}
	if len(opts.Statuses) > 0 {
		q.Set("status", strings.Join(opts.Statuses, ","))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var runs []api.Run
	err := s.c.call(ctx, api.RouteListRuns, api.RunsPath, q, nil, &runs)
	return runs, err
}

// Get reads run id.
func (s RunsService) Get(ctx context.Context, id string) (api.Run, error) {
	var run api.Run
	err := s.c.call(ctx, api.RouteGetRun, api.RunPath(id), nil, nil, &run)
	return run, err
}

// Create queues a run of an uploaded bundle.
func (s RunsService) Create(ctx context.Context, req api.NewRunRequest) (api.Run, error) {
	var run api.Run
	err := s.c.call(ctx, api.RouteCreateRun, api.RunsPath, nil, req, &run)
	return run, err
}

// Cancel asks the server to stop run id, and returns the status the run
// has then (cancelled at once when still queued, else cancelling).
func (s RunsService) Cancel(ctx context.Context, id string) (string, error) {
	var out struct {
		Status string `json:"status"`
	}
	err := s.c.call(ctx, api.RouteCancelRun, api.RunCancelPath(id), nil, struct{}{}, &out)
	return out.Status, err
}

// Rerun queues a new run of run id's bundle and project file.
func (s RunsService) Rerun(ctx context.Context, id string, req api.RerunRequest) (api.Run, error) {
	var run api.Run
	err := s.c.call(ctx, api.RouteRerunRun, api.RunRerunPath(id), nil, req, &run)
	return run, err
}

// Logs streams run id's log as it is stored now; the caller closes it.
// Follow waits for the rest.
func (s RunsService) Logs(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := s.c.stream(ctx, api.RouteRunLogs, api.RunLogsPath(id), nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Artifacts lists run id's artifacts.
func (s RunsService) Artifacts(ctx context.Context, id string) ([]api.Artifact, error) {
	var list []api.Artifact
	err := s.c.call(ctx, api.RouteListArtifacts, api.RunArtifactsPath(id), nil, nil, &list)
	return list, err
}

// Artifact streams the artifact called name of run id; the caller closes
// it.
func (s RunsService) Artifact(ctx context.Context, id, name string) (io.ReadCloser, error) {
	resp, err := s.c.stream(ctx, api.RouteGetArtifact, api.RunArtifactPath(id, name), nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
