package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// Issue 22: a deployed run's phase gets its OIDC token in the variable
// id_tokens names; the token verifies with go-oidc against the server's
// published discovery document and keys, for its audience and subject;
// the log shows it masked; after jetway server rotate-oidc-key it still
// verifies.
func TestIDTokenReachesThePhase(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"jetway.yaml": fmt.Sprintf(`project: e2e-oidc
ssm_env: staging
env:
  vars:
    DOCKER_HOST: unix://%s
id_tokens:
  AWS_WEB_IDENTITY: {aud: sts.amazonaws.com}
artifacts: [out/]
phases:
  build:
    - mkdir -p out && printf %%s "$AWS_WEB_IDENTITY" > out/token.jwt
    - echo "token=$AWS_WEB_IDENTITY"
`, b.LocalSocket),
	})
	ctx := context.Background()
	code, out, errOut := s.jetway(t, ctx, dir, "deploy")
	m := queuedRE.FindStringSubmatch(errOut)
	if code != 0 || m == nil {
		t.Fatalf("deploy: exit %d\n%s\n%s\nserver:\n%s", code, out, errOut, s.log.String())
	}
	id := m[1]
	resp, err := s.client(t).Stream(ctx, http.MethodGet, "/v1/runs/"+id+"/artifacts/out/token.jwt", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(raw) < 100 {
		t.Fatalf("the token the phase wrote: %q %v", raw, err)
	}
	token := string(raw)

	// The server's default issuer is its --listen address.
	verify := func() *gooidc.IDToken {
		t.Helper()
		p, err := gooidc.NewProvider(ctx, s.URL)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		tok, err := p.Verifier(&gooidc.Config{ClientID: "sts.amazonaws.com"}).Verify(ctx, token)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		return tok
	}
	tok := verify()
	var claims struct {
		RunID string `json:"run_id"`
	}
	if err := tok.Claims(&claims); err != nil || tok.Subject != "project:e2e-oidc:env:staging" || claims.RunID != id {
		t.Fatalf("sub %q, run_id %q (%v)", tok.Subject, claims.RunID, err)
	}

	// Masked in the log, as the deploy printed it and as the server keeps it.
	logResp, err := s.client(t).Stream(ctx, http.MethodGet, "/v1/runs/"+id+"/logs", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(logResp.Body)
	logResp.Body.Close()
	for name, text := range map[string]string{"deploy's output": out, "stored log": string(stored)} {
		if !strings.Contains(text, "token=[MASKED]") || strings.Contains(text, token) || strings.Contains(text, strings.Split(token, ".")[1]) {
			t.Errorf("%s shows the token unmasked, or no masked line:\n%s", name, text)
		}
	}

	code, out, errOut = s.jetway(t, ctx, dir, "server", "rotate-oidc-key")
	if code != 0 || !strings.Contains(out, "new signing key") || !strings.Contains(out, "retired; published until") {
		t.Fatalf("rotate-oidc-key: exit %d\n%s\n%s", code, out, errOut)
	}
	verify()
}
