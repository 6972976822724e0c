package server_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// leaseRun leases run id as a fresh agent would and returns its run token.
func leaseRun(t *testing.T, base, token, id string) string {
	t.Helper()
	ctx := context.Background()
	var created api.NewAgentResponse
	if err := apiclient.New(base, token).Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "a-" + id}, &created); err != nil {
		t.Fatal(err)
	}
	lease, err := runproto.NewCoordinatorClient([]string{base}, created.Token).Lease(ctx, runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: created.Name, Concurrency: 1}})
	if err != nil || lease == nil || lease.RunID != id {
		t.Fatalf("lease %+v %v, want run %s", lease, err, id)
	}
	return lease.RunToken
}

// queueRun queues a run of project and returns it.
func queueRun(t *testing.T, base, token, project string) api.Run {
	t.Helper()
	ctx := context.Background()
	c := apiclient.New(base, token)
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	var run api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: "project: " + project + "\n", Bundle: bundle.ID}, &run); err != nil {
		t.Fatal(err)
	}
	return run
}

// getProject reads a project's settings as jetway projects show does.
func getProject(t *testing.T, c *apiclient.Client, name string) api.Project {
	t.Helper()
	var p api.Project
	if err := c.Do(context.Background(), http.MethodGet, "/v1/projects/"+name, nil, nil, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// getRun reads a run as jetway runs show does.
func getRun(t *testing.T, c *apiclient.Client, id string) api.Run {
	t.Helper()
	var r api.Run
	if err := c.Do(context.Background(), http.MethodGet, "/v1/runs/"+id, nil, nil, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func statusOf(err error) int {
	var se *apiclient.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// The API token reads, sets and resets a project's settings; what it
// sets is checked and comes back in one spelling.
func TestProjectsAPI(t *testing.T) {
	base, token, _ := startServer(t)
	ctx := context.Background()
	c := apiclient.New(base, token)
	var list []api.Project
	if err := c.Do(ctx, http.MethodGet, "/v1/projects", nil, nil, &list); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("no projects: %+v %v (want an empty list)", list, err)
	}
	if p := getProject(t, c, "web"); p.Name != "web" || !p.Docker.Strict() || !p.UpdatedAt.IsZero() {
		t.Fatalf("a project without settings: %+v", p)
	}
	var p api.Project
	err := c.Do(ctx, http.MethodPut, "/v1/projects/web", nil, api.Project{Docker: api.DockerPolicy{Allow: []string{"host-mounts", "privileged", "host-mounts"}, ExposeCredentials: true}}, &p)
	if err != nil || !slices.Equal(p.Docker.Allow, []string{"privileged", "host-mounts"}) || !p.Docker.ExposeCredentials || p.UpdatedAt.IsZero() {
		t.Fatalf("put: %+v %v", p, err)
	}
	if p := getProject(t, c, "web"); p.Docker.String() != "allows privileged, host-mounts; phases hold the Docker host's credentials" {
		t.Fatalf("read back: %+v", p)
	}
	for _, bad := range []struct {
		name, path string
		body       api.Project
		want       string
	}{
		{"unknown allowance", "/v1/projects/web", api.Project{Docker: api.DockerPolicy{Allow: []string{"privileged", "root-fs"}}},
			`unknown Docker allowance "root-fs"; the allowances are privileged, host-mounts, host-namespaces, devices, capabilities, unconfined, build-entitlements`},
		{"a name jetway.yaml refuses", "/v1/projects/Web_1", api.Project{}, `project name "Web_1": use lower-case letters, digits and -`},
		{"another name in the body", "/v1/projects/web", api.Project{Name: "api"}, `the body names project "api", the path "web"`},
	} {
		err := c.Do(ctx, http.MethodPut, bad.path, nil, bad.body, nil)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want a 400 saying %q", bad.name, err, bad.want)
		}
	}
	// The refusals changed nothing.
	if p := getProject(t, c, "web"); !slices.Equal(p.Docker.Allow, []string{"privileged", "host-mounts"}) || !p.Docker.ExposeCredentials {
		t.Fatalf("after the refusals: %+v", p)
	}
	if err := c.Do(ctx, http.MethodPut, "/v1/projects/api", nil, api.Project{Name: "api", Docker: api.DockerPolicy{Allow: []string{"devices"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/projects", nil, nil, &list); err != nil || len(list) != 2 || list[0].Name != "api" || list[1].Name != "web" {
		t.Fatalf("list: %+v %v", list, err)
	}
	// A reset puts it back on the strict default; resetting again is no error.
	for range 2 {
		var reset api.Project
		if err := c.Do(ctx, http.MethodDelete, "/v1/projects/web", nil, nil, &reset); err != nil || reset.Name != "web" || !reset.Docker.Strict() {
			t.Fatalf("reset: %+v %v", reset, err)
		}
	}
	if p := getProject(t, c, "web"); !p.Docker.Strict() || !p.UpdatedAt.IsZero() {
		t.Fatalf("after the reset: %+v", p)
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/projects", nil, nil, &list); err != nil || len(list) != 1 || list[0].Name != "api" {
		t.Fatalf("list after the reset: %+v %v", list, err)
	}
	if err := apiclient.New(base, "").Do(ctx, http.MethodGet, "/v1/projects", nil, nil, nil); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("without a token: %v", err)
	}
}

// A runner's spec carries its project's Docker policy of the moment it
// is fetched, and the run records it: GET /v1/runs/{id} shows it from
// then on, nil before. A rerun gets the settings of its own fetch.
func TestRunSpecCarriesTheProjectsDockerPolicy(t *testing.T) {
	base, token, _ := startServer(t)
	ctx := context.Background()
	c := apiclient.New(base, token)
	granted := api.DockerPolicy{Allow: []string{api.DockerAllowPrivileged, api.DockerAllowBuildEntitlements}}
	if err := c.Do(ctx, http.MethodPut, "/v1/projects/shop", nil, api.Project{Docker: granted}, nil); err != nil {
		t.Fatal(err)
	}
	other := queueRun(t, base, token, "other")
	otherToken := leaseRun(t, base, token, other.ID)
	run := queueRun(t, base, token, "shop")
	runToken := leaseRun(t, base, token, run.ID)
	if got := getRun(t, c, run.ID); got.Docker != nil {
		t.Fatalf("before its spec was fetched: %+v", got.Docker)
	}
	spec, err := runproto.NewRunClient(base, run.ID, runToken, "").Spec(ctx)
	if err != nil || !slices.Equal(spec.Docker.Allow, granted.Allow) || spec.Docker.ExposeCredentials {
		t.Fatalf("spec: %+v %v, want %+v", spec.Docker, err, granted)
	}
	if spec, err := runproto.NewRunClient(base, other.ID, otherToken, "").Spec(ctx); err != nil || !spec.Docker.Strict() {
		t.Fatalf("another project's spec: %+v %v, want the strict default", spec.Docker, err)
	}
	// The settings change while the run runs: it shows what it was given.
	if err := c.Do(ctx, http.MethodPut, "/v1/projects/shop", nil, api.Project{Docker: api.DockerPolicy{ExposeCredentials: true}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := getRun(t, c, run.ID); got.Docker == nil || got.Docker.String() != "allows privileged, build-entitlements" {
		t.Fatalf("the run's recorded policy: %+v", got.Docker)
	}
	// The runner ends the run, so that the project is free for the rerun.
	end := []api.Event{{Seq: 1, Type: "summary", Time: time.Now(), Summary: &api.Summary{RunID: run.ID, Status: api.StatusSucceeded}}}
	if err := apiclient.New(base, runToken).Do(ctx, http.MethodPost, "/v1/runs/"+run.ID+"/events", nil, end, nil); err != nil {
		t.Fatal(err)
	}
	var re api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs/"+run.ID+"/rerun", nil, api.RerunRequest{}, &re); err != nil {
		t.Fatal(err)
	}
	if re.Docker != nil {
		t.Fatalf("a rerun carries the old run's policy before its spec: %+v", re.Docker)
	}
	reToken := leaseRun(t, base, token, re.ID)
	spec, err = runproto.NewRunClient(base, re.ID, reToken, "").Spec(ctx)
	if err != nil || len(spec.Docker.Allow) != 0 || !spec.Docker.ExposeCredentials {
		t.Fatalf("the rerun's spec: %+v %v, want the settings of now", spec.Docker, err)
	}
	if got := getRun(t, c, re.ID); got.Docker == nil || got.Docker.String() != "phases hold the Docker host's credentials" {
		t.Fatalf("the rerun's recorded policy: %+v", got.Docker)
	}
	if got := getRun(t, c, run.ID); got.Docker == nil || got.Docker.String() != "allows privileged, build-entitlements" {
		t.Fatalf("the first run's policy after the rerun: %+v", got.Docker)
	}
}

// Attack: a phase holds its run's token (the runner's) or steals its
// agent's, and asks for more of the Docker host for its own project. The
// settings are the operator's: both tokens are refused, and nothing
// changes.
func TestAttackRunTokenSetsItsProjectsDockerPolicy(t *testing.T) {
	base, token, _ := startServer(t)
	ctx := context.Background()
	run := queueRun(t, base, token, "victim")
	runToken := leaseRun(t, base, token, run.ID)
	var agentToken api.NewAgentResponse
	if err := apiclient.New(base, token).Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "thief"}, &agentToken); err != nil {
		t.Fatal(err)
	}
	wider := api.Project{Name: "victim", Docker: api.DockerPolicy{Allow: api.DockerAllowances, ExposeCredentials: true}}
	for who, stolen := range map[string]string{"run token": runToken, "agent token": agentToken.Token} {
		c := apiclient.New(base, stolen)
		for _, call := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPut, "/v1/projects/victim", wider},
			{http.MethodDelete, "/v1/projects/victim", nil},
			{http.MethodGet, "/v1/projects/victim", nil},
			{http.MethodGet, "/v1/projects", nil},
		} {
			if err := c.Do(ctx, call.method, call.path, nil, call.body, nil); statusOf(err) != http.StatusUnauthorized {
				t.Errorf("%s: %s %s: %v, want 401", who, call.method, call.path, err)
			}
		}
	}
	// The run token still works where it should: its spec, strict.
	spec, err := runproto.NewRunClient(base, run.ID, runToken, "").Spec(ctx)
	if err != nil || !spec.Docker.Strict() {
		t.Fatalf("the run's spec after the attempts: %+v %v, want the strict default", spec.Docker, err)
	}
	if p := getProject(t, apiclient.New(base, token), "victim"); !p.Docker.Strict() || !p.UpdatedAt.IsZero() {
		t.Fatalf("the project's settings after the attempts: %+v", p)
	}
}
