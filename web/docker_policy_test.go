package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// A run's page shows the Docker policy its runner was given, once it was:
// a queued run shows none.
func TestRunPageShowsTheDockerPolicy(t *testing.T) {
	base, token, ids := newServer(t)
	ctx := context.Background()
	c := apiclient.New(base, token)
	if err := c.Do(ctx, http.MethodPut, "/v1/projects/alpha", nil, api.Project{Docker: api.DockerPolicy{Allow: []string{api.DockerAllowPrivileged}, ExposeCredentials: true}}, nil); err != nil {
		t.Fatal(err)
	}
	var created api.NewAgentResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "builder"}, &created); err != nil {
		t.Fatal(err)
	}
	lease, err := runproto.NewCoordinatorClient([]string{base}, created.Token).Lease(ctx, runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: "builder", Concurrency: 1}})
	if err != nil || lease == nil || lease.RunID != ids[0] {
		t.Fatalf("lease %+v %v, want run %s", lease, err, ids[0])
	}
	if _, err := runproto.NewRunClient(base, lease.RunID, lease.RunToken, "").Spec(ctx); err != nil {
		t.Fatal(err)
	}
	browser := signIn(t, base, token)
	_, page := get(t, browser, base+"/runs/"+ids[0])
	if want := `<dd id="run-docker">allows privileged; phases hold the Docker host&#39;s credentials</dd>`; !strings.Contains(page, want) {
		t.Errorf("the page of a started run lacks %s:\n%s", want, page)
	}
	if _, page := get(t, browser, base+"/runs/"+ids[1]); strings.Contains(page, `id="run-docker"`) {
		t.Errorf("a queued run's page shows a Docker policy")
	}
}
