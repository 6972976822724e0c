package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/serverdb"
)

// startIssuer serves a real server whose public URL is issuer ("": its
// own address), and returns its address and API token.
func startIssuer(t *testing.T, issuer string) (base, token string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base = "http://" + l.Addr().String()
	if issuer == "" {
		issuer = base
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	st, err := serverdb.Open(context.Background(), serverdb.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Options{DataDir: dataDir, Store: st.Runs, Params: st.Params, PublicURL: issuer + "/"})
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	data, err := os.ReadFile(filepath.Join(dataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	return base, strings.TrimSpace(string(data))
}

// leasedWithGit queues a run of projectFile with git facts, has an agent
// lease it, and returns the run and its runner's client.
func leasedWithGit(t *testing.T, base, token, projectFile, env string, git api.Git) (api.Run, *runproto.RunClient, string) {
	t.Helper()
	ctx := context.Background()
	c := apiclient.New(base, token)
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	var run api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: projectFile, Bundle: bundle.ID, Env: env, Git: git}, &run); err != nil {
		t.Fatal(err)
	}
	var created api.NewAgentResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "a-" + run.ID}, &created); err != nil {
		t.Fatal(err)
	}
	lease, err := runproto.NewCoordinatorClient([]string{base}, created.Token).Lease(ctx, runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: created.Name, Concurrency: 1}})
	if err != nil || lease == nil || lease.RunID != run.ID {
		t.Fatalf("lease %+v %v", lease, err)
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/runs/"+run.ID, nil, nil, &run); err != nil {
		t.Fatal(err)
	}
	return run, runproto.NewRunClient(base, run.ID, lease.RunToken, ""), lease.RunToken
}

// verifierOf is go-oidc's verifier of the issuer at base for audience,
// through the server's own discovery document and JWKS, fetched anew.
func verifierOf(t *testing.T, base, audience string) *gooidc.IDTokenVerifier {
	t.Helper()
	p, err := gooidc.NewProvider(context.Background(), base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p.Verifier(&gooidc.Config{ClientID: audience})
}

const idTokensProject = `project: idt
ssm_env: dev
timeout: 20m
id_tokens:
  AWS_WEB_IDENTITY: {aud: sts.amazonaws.com}
  VAULT_JWT: {aud: "https://vault.example.com"}
`

// A run's id tokens verify with a standard OIDC library against the
// server's published discovery document and JWKS, with the run's claims;
// each only for its own audience.
func TestIDTokensVerify(t *testing.T) {
	base, token := startIssuer(t, "")
	ctx := context.Background()
	run, rc, _ := leasedWithGit(t, base, token, idTokensProject, "prod", api.Git{SHA: "0123abcd", Branch: "main"})
	tokens, err := rc.IDTokens(ctx)
	if err != nil || len(tokens) != 2 {
		t.Fatalf("tokens %v %v", tokens, err)
	}
	issued := time.Now()
	tok, err := verifierOf(t, base, "sts.amazonaws.com").Verify(ctx, tokens["AWS_WEB_IDENTITY"])
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if tok.Issuer != base || tok.Subject != "project:idt:env:prod" || len(tok.Audience) != 1 || tok.Audience[0] != "sts.amazonaws.com" {
		t.Fatalf("token %+v", tok)
	}
	// It expires within the run's timeout from its start, and within an
	// hour.
	if run.StartedAt == nil || tok.Expiry.After(run.StartedAt.Add(20*time.Minute)) || tok.Expiry.Before(issued.Add(18*time.Minute)) {
		t.Fatalf("expiry %s; run started %v with a 20m timeout", tok.Expiry, run.StartedAt)
	}
	var claims struct {
		Project   string `json:"project"`
		Env       string `json:"env"`
		RunID     string `json:"run_id"`
		GitCommit string `json:"git_commit"`
		GitRef    string `json:"git_ref"`
		JTI       string `json:"jti"`
	}
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Project != "idt" || claims.Env != "prod" || claims.RunID != run.ID || claims.GitCommit != "0123abcd" || claims.GitRef != "refs/heads/main" || claims.JTI == "" {
		t.Fatalf("claims %+v", claims)
	}
	if _, err := verifierOf(t, base, "sts.amazonaws.com").Verify(ctx, tokens["VAULT_JWT"]); err == nil {
		t.Fatal("the Vault token verified for AWS's audience")
	}
	if _, err := verifierOf(t, base, "https://vault.example.com").Verify(ctx, tokens["VAULT_JWT"]); err != nil {
		t.Fatalf("the Vault token for its own audience: %v", err)
	}
	// Asked again, the run gets new tokens (another jti), from the same
	// key.
	again, err := rc.IDTokens(ctx)
	if err != nil || again["AWS_WEB_IDENTITY"] == tokens["AWS_WEB_IDENTITY"] {
		t.Fatalf("again: %v", err)
	}
}

// A token signed by another server's key, even one that names this
// server as its issuer, does not verify against this server's JWKS.
func TestIDTokensOfAnotherKeyAreRefused(t *testing.T) {
	base, token := startIssuer(t, "")
	otherBase, otherToken := startIssuer(t, base) // claims to be base
	ctx := context.Background()
	_, rc, _ := leasedWithGit(t, otherBase, otherToken, idTokensProject, "", api.Git{})
	forged, err := rc.IDTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The other server's own key set would take it: it is a good token,
	// of the wrong key.
	otherKeys := gooidc.NewRemoteKeySet(ctx, otherBase+"/.well-known/jwks.json")
	if _, err := gooidc.NewVerifier(base, otherKeys, &gooidc.Config{ClientID: "sts.amazonaws.com"}).Verify(ctx, forged["AWS_WEB_IDENTITY"]); err != nil {
		t.Fatalf("against its own keys: %v", err)
	}
	if _, err := verifierOf(t, base, "sts.amazonaws.com").Verify(ctx, forged["AWS_WEB_IDENTITY"]); err == nil {
		t.Fatal("a token of another server's key verified")
	}
	// This server's own run's token does.
	_, own, _ := leasedWithGit(t, base, token, idTokensProject, "", api.Git{})
	mine, err := own.IDTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifierOf(t, base, "sts.amazonaws.com").Verify(ctx, mine["AWS_WEB_IDENTITY"]); err != nil {
		t.Fatalf("own token: %v", err)
	}
}

// After a rotation tokens are signed by the new key, and those the old
// key signed still verify: both are published.
func TestIDTokensRotation(t *testing.T) {
	base, token := startIssuer(t, "")
	ctx := context.Background()
	_, rc, _ := leasedWithGit(t, base, token, idTokensProject, "", api.Git{})
	before, err := rc.IDTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := apiclient.New(base, token)
	var rotated api.OIDCRotateResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/oidc/rotate", nil, nil, &rotated); err != nil {
		t.Fatal(err)
	}
	if len(rotated.Keys) != 2 || rotated.Keys[0].ID != rotated.Signer || rotated.Keys[1].PublishedUntil == nil {
		t.Fatalf("rotated %+v", rotated)
	}
	after, err := rc.IDTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := verifierOf(t, base, "sts.amazonaws.com")
	for name, raw := range map[string]string{"before": before["AWS_WEB_IDENTITY"], "after": after["AWS_WEB_IDENTITY"]} {
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Errorf("the token issued %s the rotation: %v", name, err)
		}
	}
	if kid(t, before["AWS_WEB_IDENTITY"]) == kid(t, after["AWS_WEB_IDENTITY"]) || kid(t, after["AWS_WEB_IDENTITY"]) != rotated.Signer {
		t.Fatalf("kids %s, %s; signer %s", kid(t, before["AWS_WEB_IDENTITY"]), kid(t, after["AWS_WEB_IDENTITY"]), rotated.Signer)
	}
}

// kid is the key ID in a JWT's header.
func kid(t *testing.T, raw string) string {
	t.Helper()
	header, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// The discovery document and JWKS need no token and are not the
// dashboard's; tokens need the run's own token; rotation an API token.
func TestIDTokensRoutesAuth(t *testing.T) {
	base, token := startIssuer(t, "")
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(body) {
			t.Errorf("%s: %d %s %.80s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	run, _, _ := leasedWithGit(t, base, token, idTokensProject, "", api.Git{})
	_, otherRC, otherToken := leasedWithGit(t, base, token, "project: other\n", "", api.Git{})
	// A project without id_tokens gets none.
	if tokens, err := otherRC.IDTokens(context.Background()); err != nil || len(tokens) != 0 {
		t.Fatalf("without id_tokens: %v %v", tokens, err)
	}
	for name, bearer := range map[string]string{"the API token": token, "none": "", "another run's token": otherToken} {
		if code, _ := send(t, http.MethodPost, base+"/v1/runs/"+run.ID+"/id-tokens", bearer, nil); code != http.StatusUnauthorized {
			t.Errorf("id tokens with %s: %d", name, code)
		}
	}
	if code, _ := send(t, http.MethodPost, base+"/v1/oidc/rotate", otherToken, nil); code != http.StatusUnauthorized {
		t.Errorf("rotation with a run token: %d", code)
	}
}
