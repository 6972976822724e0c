package web_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// The Hosts page lists the pools' hosts as the server's checks found
// them, as jetway hosts ls does; a run's page names the pool's host it
// built on and why.
func TestHostsPageShowsThePools(t *testing.T) {
	base, token := servertest.Start(t, server.Options{DataDir: filepath.Join(t.TempDir(), "data"), HostCheckInterval: 100 * time.Millisecond})
	ctx := context.Background()
	c := apiclient.New(base, token)
	browser := signIn(t, base, token)
	if _, page := get(t, browser, base+"/hosts"); !strings.Contains(page, "No pool hosts yet") {
		t.Fatalf("no hosts:\n%s", page)
	}
	for _, h := range []api.DockerHost{
		{Name: "b1", URL: "tcp://127.0.0.1:1", Pool: "warm", MaxBuilds: 3},
		{Name: "c1", URL: "ssh://builder@127.0.0.1:1", Pool: "cold", SSHKey: "SSM:/hosts/c1/key", KnownHosts: "SSM:/hosts/known"},
	} {
		if err := c.Do(ctx, http.MethodPost, "/v1/hosts", nil, h, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/c1/drain", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	var page string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, page = get(t, browser, base+"/hosts"); strings.Count(page, `<span class="status offline"`) == 2 {
			break
		}
	}
	row := func(name string) string {
		start := strings.Index(page, `<tr id="host-`+name+`">`)
		if start < 0 {
			t.Fatalf("no row of %s:\n%s", name, page)
		}
		return page[start : start+strings.Index(page[start:], "</tr>")]
	}
	b1 := row("b1")
	for _, want := range []string{"<td>warm</td>", "<code>tcp://127.0.0.1:1</code>", ">down</span>", "connection refused", "<td>0 / 3</td>"} {
		if !strings.Contains(b1, want) {
			t.Errorf("b1's row lacks %q:\n%s", want, b1)
		}
	}
	c1 := row("c1")
	for _, want := range []string{"<td>cold</td>", ">down</span>", "draining", "ParameterNotFound"} {
		if !strings.Contains(c1, want) {
			t.Errorf("c1's row lacks %q:\n%s", want, c1)
		}
	}

	// A run that failed over names both hosts on its page.
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	var run api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: "project: web\ndocker_host: {pool: warm}\nphases: {build: [make]}\n", Bundle: bundle.ID}, &run); err != nil {
		t.Fatal(err)
	}
	var agent api.NewAgentResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "builder"}, &agent); err != nil {
		t.Fatal(err)
	}
	lease, err := runproto.NewCoordinatorClient([]string{base}, agent.Token).Lease(ctx, runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: "builder", Concurrency: 1}})
	if err != nil || lease == nil || lease.RunID != run.ID {
		t.Fatalf("lease %+v %v", lease, err)
	}
	summary := api.Summary{RunID: run.ID, Status: api.StatusSucceeded, DockerHostName: "b1", DockerHostChoice: "b1 (b0: down: connection refused)", DockerHostURL: "tcp://127.0.0.1:1"}
	end := []api.Event{{Seq: 1, Type: "summary", Time: time.Now(), Summary: &summary}}
	if err := apiclient.New(base, lease.RunToken).Do(ctx, http.MethodPost, "/v1/runs/"+run.ID+"/events", nil, end, nil); err != nil {
		t.Fatal(err)
	}
	if _, page := get(t, browser, base+"/runs/"+run.ID); !strings.Contains(page, `<dd id="run-docker-host">b1 (b0: down: connection refused) <code>tcp://127.0.0.1:1</code></dd>`) {
		t.Errorf("the run's page lacks its Docker host:\n%s", page)
	}
}
