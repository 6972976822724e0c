package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// leased queues a run of projectFile with vars and leases it as an agent
// would, returning the run and its runner's client (the run token's).
func leased(t *testing.T, base, token, projectFile string, vars map[string]string) (api.Run, *runproto.RunClient) {
	t.Helper()
	run, runToken := leasedToken(t, base, token, projectFile, vars)
	return run, runproto.NewRunClient(base, run.ID, runToken, "")
}

// leasedToken is leased, giving the run token itself: what a hostile
// runner holds.
func leasedToken(t *testing.T, base, token, projectFile string, vars map[string]string) (api.Run, string) {
	t.Helper()
	ctx := context.Background()
	c := apiclient.New(base, token)
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	var run api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: projectFile, Bundle: bundle.ID, Vars: vars}, &run); err != nil {
		t.Fatal(err)
	}
	var created api.NewAgentResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "a-" + run.ID}, &created); err != nil {
		t.Fatal(err)
	}
	coord := runproto.NewCoordinatorClient([]string{base}, created.Token)
	lease, err := coord.Lease(ctx, runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: created.Name, Concurrency: 1}})
	if err != nil || lease == nil || lease.RunID != run.ID {
		t.Fatalf("lease %+v %v", lease, err)
	}
	return run, lease.RunToken
}

// An artifact goes up in chunks with the run token and comes back whole
// with the API token, byte for byte, as a download that no browser runs;
// what does not add up is refused.
func TestArtifactsRoundTrip(t *testing.T) {
	base, token, _ := startServer(t)
	ctx := context.Background()
	run, rc := leased(t, base, token, "project: arts\nartifacts: [out/]\n", nil)
	content := make([]byte, api.ArtifactChunkSize+12345)
	_, _ = rand.Read(content)
	var chunks []string
	for off := 0; off < len(content); off += api.ArtifactChunkSize {
		piece := content[off:min(off+api.ArtifactChunkSize, len(content))]
		sum := sha256.Sum256(piece)
		h := hex.EncodeToString(sum[:])
		if err := rc.PutArtifactChunk(ctx, h, piece); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, h)
	}
	whole := sha256.Sum256(content)
	a := api.Artifact{Name: "out/report <1>.html", Size: int64(len(content)), SHA256: hex.EncodeToString(whole[:])}
	if err := rc.AddArtifact(ctx, api.NewArtifact{Artifact: a, Chunks: chunks}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		a    api.NewArtifact
		want string
	}{
		{"outside", api.NewArtifact{Artifact: api.Artifact{Name: "../etc/passwd", SHA256: a.SHA256}}, "not a clean path"},
		{"absolute", api.NewArtifact{Artifact: api.Artifact{Name: "/etc/passwd", SHA256: a.SHA256}}, "not a clean path"},
		{"wrong size", api.NewArtifact{Artifact: api.Artifact{Name: "x", Size: 5, SHA256: a.SHA256}, Chunks: chunks[:1]}, "its chunks hold 16777216 bytes, not 5"},
		{"unknown chunk", api.NewArtifact{Artifact: api.Artifact{Name: "x", Size: 5, SHA256: a.SHA256}, Chunks: []string{strings.Repeat("0", 64)}}, "was not uploaded by this run"},
		{"bad hash", api.NewArtifact{Artifact: api.Artifact{Name: "x", SHA256: "nope"}}, "not a sha256 hash"},
	} {
		var se *apiclient.StatusError
		if err := rc.AddArtifact(ctx, bad.a); !errors.As(err, &se) || se.Status != http.StatusBadRequest || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want a 400 saying %q", bad.name, err, bad.want)
		}
	}
	// A chunk that is not what its name says is refused.
	client := apiclient.New(base, token)
	if err := rc.PutArtifactChunk(ctx, strings.Repeat("1", 64), []byte("not that")); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Errorf("a chunk under another's hash: %v", err)
	}
	// The API token reads the artifact; the run token does not read another path.
	var got api.Run
	if err := client.Do(ctx, http.MethodGet, "/v1/runs/"+run.ID, nil, nil, &got); err != nil || len(got.Artifacts) != 1 || got.Artifacts[0] != a {
		t.Fatalf("run %+v %v", got.Artifacts, err)
	}
	resp, err := client.Stream(ctx, http.MethodGet, "/v1/runs/"+run.ID+"/artifacts/"+(&url.URL{Path: a.Name}).EscapedPath(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(body, content) {
		t.Fatalf("download: %d bytes, %v; want the %d uploaded", len(body), err, len(content))
	}
	for k, want := range map[string]string{"Content-Type": "application/octet-stream", "Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"} {
		if resp.Header.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, resp.Header.Get(k), want)
		}
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if _, err := client.Stream(ctx, http.MethodGet, "/v1/runs/"+run.ID+"/artifacts/out/nope", nil, nil, nil); err == nil || !strings.Contains(err.Error(), `has no artifact "out/nope"`) {
		t.Errorf("a missing artifact: %v", err)
	}
	rcAPI := apiclient.New(base, "jwr_wrong")
	if err := rcAPI.Do(ctx, http.MethodGet, "/v1/runs/"+run.ID+"/artifacts", nil, nil, nil); err == nil {
		t.Error("a wrong token listed the artifacts")
	}
}

// A rerun takes the run's bundle, project file and variables, with the
// rerun's on top; the run token of the rerun reads the references of both.
// A run whose source is gone cannot be rerun, and says why.
func TestRerun(t *testing.T) {
	base, token, _ := startServer(t)
	ctx := context.Background()
	c := apiclient.New(base, token)
	old, _ := leased(t, base, token, "project: re\nssm_env: dev\nphases:\n  build: [make]\n", map[string]string{"COLOR": "blue", "API_KEY": "k-12345", "DB_PASSWORD": "SSM:/#{ssm_env}/DB"})
	if old.Vars["API_KEY"] != "[MASKED]" || old.Vars["COLOR"] != "blue" || old.Vars["DB_PASSWORD"] != "SSM:/#{ssm_env}/DB" {
		t.Fatalf("shown vars %v", old.Vars)
	}
	// The lease made it active; stop it so that the rerun may start.
	if err := c.Do(ctx, http.MethodPost, "/v1/runs/"+old.ID+"/cancel", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	var re api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs/"+old.ID+"/rerun", nil, api.RerunRequest{Vars: map[string]string{"COLOR": "red", "NPM": "SSM:/dev/NPM"}, StartedBy: "me"}, &re); err != nil {
		t.Fatal(err)
	}
	if re.RerunOf != old.ID || re.Bundle != old.Bundle || re.Env != "dev" || re.StartedBy != "me" ||
		re.Vars["COLOR"] != "red" || re.Vars["API_KEY"] != "[MASKED]" || re.Vars["NPM"] != "SSM:/dev/NPM" || len(re.Vars) != 4 {
		t.Fatalf("rerun %+v", re)
	}
	var bad *apiclient.StatusError
	err := c.Do(ctx, http.MethodPost, "/v1/runs/"+old.ID+"/rerun", nil, api.RerunRequest{Vars: map[string]string{"JETWAY_TOKEN": "x"}}, nil)
	if !errors.As(err, &bad) || bad.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "-e JETWAY_TOKEN") {
		t.Fatalf("a steering name: %v", err)
	}
	err = c.Do(ctx, http.MethodPost, "/v1/runs/nosuchrun/rerun", nil, nil, nil)
	if !errors.As(err, &bad) || bad.Status != http.StatusNotFound || !strings.Contains(err.Error(), "pruned by the server's retention") {
		t.Fatalf("an unknown run: %v", err)
	}
}
