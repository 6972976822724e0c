package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Attacks on identity (issue 22) by a hostile deployer, viewer, runner or
// reader of the database. Each test passes when the attack is refused.

// shopDeployer makes the deployer the attacks use: projects shop-*, the
// shop parameters and secrets granted, nothing else.
func shopDeployer(t *testing.T, base, admin string) string {
	t.Helper()
	return makeToken(t, base, admin, api.NewTokenRequest{Name: "dee", Role: api.RoleDeployer, Projects: []string{"shop-*"},
		Params: []string{"SSM:/prod/shop/*", "SECRET:shop/**"}})
}

// raw sends one request with header auth (none if "") and answers the
// status and body.
func raw(t *testing.T, method, target, auth string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// auditOf reads the whole audit log with the admin token.
func auditOf(t *testing.T, base, admin string) []api.AuditEntry {
	t.Helper()
	var entries []api.AuditEntry
	if err := apiclient.New(base, admin).Do(context.Background(), http.MethodGet, "/v1/audit?limit=10000", nil, nil, &entries); err != nil {
		t.Fatal(err)
	}
	return entries
}

// dashboard is a browser signed into the dashboard.
type dashboard struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
	csrf   string
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signIn signs into the dashboard with token; ok is false when the
// sign-in form refuses it.
func signIn(t *testing.T, base, token string) (*dashboard, bool) {
	t.Helper()
	resp, err := noRedirects.PostForm(base+"/login", url.Values{"token": {token}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		return nil, false
	}
	d := &dashboard{t: t, base: base, cookie: resp.Cookies()[0]}
	code, page := d.get("/", 0)
	if m := csrfInput.FindStringSubmatch(page); code == http.StatusOK && m != nil {
		d.csrf = m[1]
	}
	return d, true
}

// get reads a dashboard page (an event stream for within, if not 0).
func (d *dashboard) get(path string, within time.Duration) (int, string) {
	d.t.Helper()
	ctx := context.Background()
	if within > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, within)
		defer cancel()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	req.AddCookie(d.cookie)
	if within > 0 {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body) // a stream ends at the deadline
	return resp.StatusCode, string(data)
}

// post sends a dashboard form with the session's CSRF token.
func (d *dashboard) post(path string) int {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.base+path, strings.NewReader(url.Values{"csrf": {d.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", d.base)
	req.AddCookie(d.cookie)
	resp, err := noRedirects.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A deployer scoped to shop-* neither reads nor acts on a billing run,
// through the API or the dashboard: its log, artifacts, cancel, rerun,
// the project filter, the event streams. On both engines.
func TestAttackIdentityDeployerStaysInItsProjects(t *testing.T) {
	onEngines(t, func(t *testing.T, base, admin string, _ func(string) bool) {
		ctx := context.Background()
		dee := shopDeployer(t, base, admin)
		viewer := makeToken(t, base, admin, api.NewTokenRequest{Name: "vic", Role: api.RoleViewer, Projects: []string{"shop-*"}})
		billing, runToken := leasedToken(t, base, admin, "project: billing\nartifacts: [out/]\n", nil)
		const logText = "billing-log-line-7c1e"
		events := []api.Event{{Seq: 1, Type: "log", Time: time.Now(), Message: logText + "\n"}}
		if err := apiclient.New(base, runToken).Do(ctx, http.MethodPost, "/v1/runs/"+billing.ID+"/events", nil, events, nil); err != nil {
			t.Fatal(err)
		}
		const artText = "billing-artifact-9d2f"
		if code, msg := putChunk(t, base, billing.ID, runToken, []byte(artText), len(artText)); code != http.StatusOK {
			t.Fatalf("chunk: %d %s", code, msg)
		}
		if code, msg := addArtifact(t, base, billing.ID, runToken, "out/report.txt", []byte(artText)); code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("artifact: %d %s", code, msg)
		}

		for _, tc := range []struct{ method, path string }{
			{http.MethodGet, "/v1/runs/" + billing.ID},
			{http.MethodGet, "/v1/runs/" + billing.ID + "/logs"},
			{http.MethodGet, "/v1/runs/" + billing.ID + "/logs?follow=1"},
			{http.MethodGet, "/v1/runs/" + billing.ID + "/artifacts"},
			{http.MethodGet, "/v1/runs/" + billing.ID + "/artifacts/out/report.txt"},
			{http.MethodGet, "/v1/runs?project=billing"},
			{http.MethodPost, "/v1/runs/" + billing.ID + "/cancel"},
			{http.MethodPost, "/v1/runs/" + billing.ID + "/rerun"},
		} {
			for name, token := range map[string]string{"dee": dee, "vic": viewer} {
				code, body := raw(t, tc.method, base+tc.path, "Bearer "+token, strings.NewReader("{}"))
				if code != http.StatusForbidden || strings.Contains(body, logText) || strings.Contains(body, artText) {
					t.Errorf("%s: %s %s: %d %q, want 403", name, tc.method, tc.path, code, body)
				}
			}
		}
		var runs []api.Run
		if err := apiclient.New(base, dee).Do(ctx, http.MethodGet, "/v1/runs?limit=1000&status=provisioning,running,queued", nil, nil, &runs); err != nil {
			t.Fatal(err)
		}
		if len(runs) != 0 {
			t.Errorf("the deployer lists %+v", runs)
		}
		// The billing run still runs, and no rerun of it was queued.
		if err := apiclient.New(base, admin).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, &runs); err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].ID != billing.ID || api.Finished(runs[0].Status) {
			t.Errorf("after the attacks the server has %+v", runs)
		}

		// The dashboard, signed in as the deployer.
		d, ok := signIn(t, base, dee)
		if !ok || d.csrf == "" {
			t.Fatal("the deployer cannot sign into the dashboard")
		}
		for _, path := range []string{"/runs/" + billing.ID, "/runs/" + billing.ID + "/artifacts/out/report.txt", "/params", "/audit", "/?project=billing"} {
			code, page := d.get(path, 0)
			// A page refused names the ID it was asked for, not the run.
			shown := billing.ID
			if strings.HasPrefix(path, "/runs/") {
				shown = ">billing<"
			}
			if strings.Contains(page, logText) || strings.Contains(page, artText) || strings.Contains(page, shown) {
				t.Errorf("dashboard %s: %d shows the billing run", path, code)
			}
			if path == "/params" || path == "/audit" {
				if code != http.StatusForbidden {
					t.Errorf("dashboard %s: %d, want 403", path, code)
				}
			}
		}
		for _, path := range []string{"/runs/" + billing.ID + "/log", "/events", "/events?run=" + billing.ID} {
			_, stream := d.get(path, 1500*time.Millisecond)
			if strings.Contains(stream, logText) || strings.Contains(stream, billing.ID) {
				t.Errorf("dashboard %s streams the billing run: %q", path, stream)
			}
		}
		for _, path := range []string{"/runs/" + billing.ID + "/stop", "/runs/" + billing.ID + "/rerun"} {
			if code := d.post(path); code != http.StatusForbidden {
				t.Errorf("dashboard POST %s: %d, want 403", path, code)
			}
		}
		if err := apiclient.New(base, admin).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, &runs); err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || api.Finished(runs[0].Status) {
			t.Errorf("after the dashboard's attacks the server has %+v", runs)
		}
		// Each refusal of the API is in the audit log, by its name.
		refused := 0
		for _, e := range auditOf(t, base, admin) {
			if e.Actor == "dee" && e.Outcome == api.OutcomeRefused {
				refused++
			}
		}
		if refused < 8 {
			t.Errorf("%d refusals of dee in the audit log, want at least 8", refused)
		}
	})
}

// adminAWS is an AWS config with the store's admin key pair, from the
// data dir's credentials file.
func adminAWS(t *testing.T, dataDir string) aws.Config {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(kv["aws_access_key_id"], kv["aws_secret_access_key"], "")}
}

// deployWith queues a run as jetway deploy does, with an environment and
// passed variables.
func deployWith(ctx context.Context, base, token string, req api.NewRunRequest) (api.Run, error) {
	c := apiclient.New(base, token)
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		return api.Run{}, err
	}
	req.Bundle = bundle.ID
	var run api.Run
	err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, req, &run)
	return run, err
}

// A deployer's run never obtains a value its token does not grant: each
// way of naming an ungranted parameter or secret is refused at deploy,
// or, if the run is queued, its runner's scoped key reads none of them
// whatever name it asks by.
func TestAttackIdentityGrantsCannotBeBypassed(t *testing.T) {
	base, admin, dataDir := startServer(t)
	ctx := context.Background()
	dee := shopDeployer(t, base, admin)
	deep := makeToken(t, base, admin, api.NewTokenRequest{Name: "deep", Role: api.RoleDeployer, Projects: []string{"shop-*"},
		Params: []string{"SSM:/prod/shop/**", "SECRET:shop/**"}})
	const marker = "UNGRANTED-VALUE-"
	apiPut(t, base, admin, "/prod/shop/DB", "granted-shop-value")
	apiPut(t, base, admin, "/prod/billing/DB", marker+"1")
	apiPut(t, base, admin, "billing", marker+"2")
	cfg := adminAWS(t, dataDir)
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(base) })
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("billing-key"), SecretString: aws.String(`{"password":"` + marker + `3"}`)})
	if err != nil {
		t.Fatal(err)
	}
	billingARN := aws.ToString(created.ARN)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("shop/ok"), SecretString: aws.String("granted-secret")}); err != nil {
		t.Fatal(err)
	}
	paramARN := "arn:aws:ssm:us-east-1:000000000000:parameter/prod/billing/DB"

	n := 0
	for _, tc := range []struct {
		name, token string
		req         api.NewRunRequest
	}{
		{"lower-case ssm:", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: ssm:/prod/billing/DB\n"}},
		{"Parameter_Store:", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: Parameter_Store:/prod/billing/DB\n"}},
		{"secrets_manager:", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: secrets_manager:billing-key\n"}},
		{"JSON key of a secret", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SECRET:billing-key:password\n"}},
		{"-e overrides a granted var", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SSM:/prod/shop/DB\n", Vars: map[string]string{"A": "SSM:/prod/billing/DB"}}},
		{"-e adds a var", dee, api.NewRunRequest{ProjectFile: "", Vars: map[string]string{"B": "Secret:billing-key:password"}}},
		{"image.secrets", dee, api.NewRunRequest{ProjectFile: "image:\n  name: registry.internal/shop\n  secrets:\n    npm: SSM:/prod/billing/DB\n"}},
		{"#{ssm_env} with --env", dee, api.NewRunRequest{ProjectFile: "ssm_env: shop\nenv:\n  vars:\n    A: SSM:/prod/#{ssm_env}/DB\n", Env: "billing"}},
		{"${ssm_env} with --env", dee, api.NewRunRequest{ProjectFile: "ssm_env: shop\nenv:\n  vars:\n    A: SSM:/prod/${ssm_env}/DB\n", Env: "billing"}},
		{"image.secrets with --env", dee, api.NewRunRequest{ProjectFile: "ssm_env: shop\nimage:\n  name: registry.internal/shop\n  secrets:\n    npm: SSM:/prod/#{ssm_env}/DB\n", Env: "billing"}},
		{"one-level name", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SSM:billing\n"}},
		{"one-level name with /", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SSM:/billing\n"}},
		{"parameter ARN", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SSM:" + paramARN + "\n"}},
		{"secret ARN", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SECRET:" + billingARN + "\n"}},
		{"/aws/reference/secretsmanager", dee, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SSM:/aws/reference/secretsmanager/billing-key\n"}},
		{"passed from the client", dee, api.NewRunRequest{ProjectFile: "env:\n  pass: [A]\n", Pass: map[string]string{"A": "SSM:/prod/billing/DB"}}},
		{".. under a ** grant", deep, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SSM:/prod/shop/../billing/DB\n"}},
		{".. through --env", deep, api.NewRunRequest{ProjectFile: "ssm_env: x\nenv:\n  vars:\n    A: SSM:/prod/shop/#{ssm_env}\n", Env: "../billing/DB"}},
		{".. in a secret name", deep, api.NewRunRequest{ProjectFile: "env:\n  vars:\n    A: SECRET:shop/../billing-key\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n++
			tc.req.ProjectFile = fmt.Sprintf("project: shop-%d\n", n) + tc.req.ProjectFile
			run, err := deployWith(ctx, base, tc.token, tc.req)
			status, msg := statusAndMessage(err)
			if status == http.StatusForbidden || status == http.StatusBadRequest {
				t.Logf("refused at deploy: %d %s", status, msg)
				return
			}
			if err != nil {
				t.Fatalf("deploy: %v", err)
			}
			t.Logf("queued as run %s; acting as its runner", run.ID)
			runToken := leaseRun(t, base, admin, run.ID)
			defer finish(t, base, run.ID, runToken, api.Summary{})
			var creds api.Credentials
			ask := api.CredentialsRequest{Parameters: []string{"/prod/billing/DB", "billing", "/billing", paramARN, "/aws/reference/secretsmanager/billing-key"},
				Secrets: []string{"billing-key", billingARN}}
			if err := apiclient.New(base, runToken).Do(ctx, http.MethodPost, "/v1/credentials", nil, ask, &creds); err != nil {
				t.Fatal(err)
			}
			if got := readAll(ctx, base, creds); strings.Contains(got, marker) {
				t.Errorf("VULN: the run's scoped key read an ungranted value: %s", got)
			}
		})
	}
}

// readAll tries every read a scoped key might slip through, and answers
// what came back.
func readAll(ctx context.Context, base string, creds api.Credentials) string {
	cfg := aws.Config{Region: creds.Region, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")}
	c := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(base) })
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(base) })
	var got strings.Builder
	note := func(v any, err error) {
		if err == nil {
			b, _ := json.Marshal(v)
			got.Write(b)
		}
	}
	names := []string{"/prod/billing/DB", "billing", "/billing", "/prod/shop/../billing/DB", "/prod/shop/DB",
		"arn:aws:ssm:us-east-1:000000000000:parameter/prod/billing/DB", "arn:aws:ssm:us-east-1:000000000000:parameter/billing",
		"/aws/reference/secretsmanager/billing-key", "/aws/reference/secretsmanager/shop/../billing-key", "/prod/billing/DB:1", "billing:1"}
	for _, name := range names {
		note(c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)}))
		note(c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String(name), WithDecryption: aws.Bool(true)}))
	}
	note(c.GetParameters(ctx, &ssm.GetParametersInput{Names: names[:10], WithDecryption: aws.Bool(true)}))
	note(c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/"), Recursive: aws.Bool(true), WithDecryption: aws.Bool(true)}))
	note(c.DescribeParameters(ctx, &ssm.DescribeParametersInput{}))
	for _, id := range []string{"billing-key", "shop/../billing-key", "shop/ok"} {
		note(sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}))
	}
	note(sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}))
	return got.String()
}

// Tokens are taken from the Authorization header exactly, as jwu_
// tokens of the server (or its own): not from the query, not with other
// spacing, not a run's, an agent's, nor anything the database holds.
func TestAttackIdentityTokenHandling(t *testing.T) {
	base, admin, dataDir := startServer(t)
	ctx := context.Background()
	dee := shopDeployer(t, base, admin)
	run, runToken := leasedToken(t, base, admin, "project: shop-web\n", nil)
	var agent api.NewAgentResponse
	if err := apiclient.New(base, admin).Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "spare"}, &agent); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(dee))
	hash := hex.EncodeToString(sum[:])
	if _, ok := signIn(t, base, dee); !ok {
		t.Fatal("the deployer cannot sign in")
	}
	// What a reader of the database finds.
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(dataDir, "jetway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored []string
	for _, q := range []string{`SELECT hash FROM api_tokens`, `SELECT id_hash FROM sessions`, `SELECT token FROM sessions`} {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, v)
		}
		rows.Close()
	}
	if !slices.Contains(stored, hash) {
		t.Fatalf("api_tokens does not hold the token's SHA-256: %q", stored)
	}
	for _, v := range stored {
		if strings.Contains(v, dee) || strings.Contains(v, admin) {
			t.Errorf("the database holds a token: %q", v)
		}
	}

	for _, tc := range []struct{ name, path, auth string }{
		{"query token", "/v1/runs?token=" + dee, ""},
		{"query access_token", "/v1/runs?access_token=" + dee, ""},
		// (A trailing space is no other token: net/http trims a header
		// value's surrounding whitespace before the server sees it.)
		{"two spaces", "/v1/runs", "Bearer  " + dee},
		{"lower-case bearer", "/v1/runs", "bearer " + dee},
		{"no scheme", "/v1/runs", dee},
		{"Basic", "/v1/runs", "Basic " + base64.StdEncoding.EncodeToString([]byte("dee:"+dee))},
		{"upper-case token", "/v1/runs", "Bearer " + strings.ToUpper(dee)},
		{"prefix of the token", "/v1/runs", "Bearer " + dee[:len(dee)-1]},
		{"run token", "/v1/runs", "Bearer " + runToken},
		{"run token on whoami", "/v1/whoami", "Bearer " + runToken},
		{"run token on the audit log", "/v1/audit", "Bearer " + runToken},
		{"run token on params", "/v1/params", "Bearer " + runToken},
		{"agent token", "/v1/runs", "Bearer " + agent.Token},
		{"agent token on tokens", "/v1/tokens", "Bearer " + agent.Token},
		{"stored hash", "/v1/runs", "Bearer " + hash},
		{"stored hash as a token", "/v1/runs", "Bearer jwu_" + hash},
	} {
		code, body := raw(t, http.MethodGet, base+tc.path, tc.auth, nil)
		if code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", tc.name, code, body)
		}
	}
	// Nothing the database holds signs in or opens a session.
	for _, v := range stored {
		if _, ok := signIn(t, base, v); ok {
			t.Errorf("signed in with %q from the database", v)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.AddCookie(&http.Cookie{Name: "jetway_session", Value: v})
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the session cookie %q from the database: %d", v, resp.StatusCode)
		}
	}
	for _, tok := range []string{runToken, agent.Token} {
		if _, ok := signIn(t, base, tok); ok {
			t.Errorf("signed into the dashboard with %s…", tok[:4])
		}
	}

	// Only an admin makes or revokes tokens; none is called admin.
	c := apiclient.New(base, dee)
	for _, req := range []api.NewTokenRequest{{Name: "mallory", Role: api.RoleAdmin}, {Name: "dee2", Role: api.RoleDeployer, Params: []string{"**"}}} {
		if status, _ := statusAndMessage(c.Do(ctx, http.MethodPost, "/v1/tokens", nil, req, nil)); status != http.StatusForbidden {
			t.Errorf("the deployer creates %+v: %d", req, status)
		}
	}
	for _, name := range []string{"dee", "admin"} {
		if status, _ := statusAndMessage(c.Do(ctx, http.MethodDelete, "/v1/tokens/"+name, nil, nil, nil)); status != http.StatusForbidden {
			t.Errorf("the deployer revokes %s: %d", name, status)
		}
	}
	for _, name := range []string{"admin", "x\nadmin", "dee\r", "a b", "../admin", ""} {
		if err := apiclient.New(base, admin).Do(ctx, http.MethodPost, "/v1/tokens", nil, api.NewTokenRequest{Name: name, Role: api.RoleViewer}, nil); err == nil {
			t.Errorf("created a token named %q", name)
		}
	}
	var who api.Whoami
	if err := c.Do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &who); err != nil || who.Name != "dee" || who.Role != api.RoleDeployer {
		t.Errorf("whoami: %+v %v", who, err)
	}

	// A run token reads its own credentials only while its run lives, and
	// they are its scope, never more.
	finish(t, base, run.ID, runToken, api.Summary{})
	if code, _ := raw(t, http.MethodPost, base+"/v1/credentials", "Bearer "+runToken, strings.NewReader(`{"parameters":["/prod/shop/DB"]}`)); code != http.StatusUnauthorized {
		t.Errorf("an ended run's token asks for credentials: %d", code)
	}
}

// A revoked token's dashboard session ends at its next request, an
// expired token signs in nowhere, and the refusals are recorded.
func TestAttackIdentityRevokedAndExpiredSessions(t *testing.T) {
	base, admin, _ := startServer(t)
	ctx := context.Background()
	dee := shopDeployer(t, base, admin)
	brief := makeToken(t, base, admin, api.NewTokenRequest{Name: "brief", Role: api.RoleViewer, ExpiresIn: 1})
	d, ok := signIn(t, base, dee)
	if !ok {
		t.Fatal("cannot sign in")
	}
	b, ok := signIn(t, base, brief)
	if !ok {
		t.Fatal("cannot sign in with brief before it expires")
	}
	if err := apiclient.New(base, admin).Do(ctx, http.MethodDelete, "/v1/tokens/dee", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := d.get("/", 0); code != http.StatusSeeOther {
		t.Errorf("the revoked token's session: %d, want a redirect to sign in", code)
	}
	if code := d.post("/runs/x/stop"); code != http.StatusUnauthorized {
		t.Errorf("a post in the revoked token's session: %d, want 401", code)
	}
	if _, ok := signIn(t, base, dee); ok {
		t.Error("the revoked token signs in again")
	}
	time.Sleep(1100 * time.Millisecond)
	if code, _ := b.get("/", 0); code != http.StatusSeeOther {
		t.Errorf("the expired token's session: %d, want a redirect to sign in", code)
	}
	if _, ok := signIn(t, base, brief); ok {
		t.Error("the expired token signs in")
	}
	// A token made again under the revoked one's name opens none of its
	// sessions.
	makeToken(t, base, admin, api.NewTokenRequest{Name: "dee", Role: api.RoleAdmin})
	if code, _ := d.get("/", 0); code != http.StatusSeeOther {
		t.Errorf("the old session after dee was made again (as an admin): %d", code)
	}
	var found []string
	for _, e := range auditOf(t, base, admin) {
		if e.Action == "sign-in" && e.Outcome == api.OutcomeRefused {
			found = append(found, e.Actor+" "+e.Detail)
		}
	}
	if !slices.Contains(found, "dee token was revoked") || !slices.Contains(found, "brief token expired") {
		t.Errorf("refused sign-ins in the audit log: %q", found)
	}
}

// The audit log is the admin's to read, nobody's to change through the
// API, records refusals, and holds no value of a parameter, even one a
// refused request carried.
func TestAttackIdentityAuditLogIntegrity(t *testing.T) {
	onEngines(t, func(t *testing.T, base, admin string, _ func(string) bool) {
		dee := shopDeployer(t, base, admin)
		vic := makeToken(t, base, admin, api.NewTokenRequest{Name: "vic", Role: api.RoleViewer})
		const value = "audit-leak-value-3e8a"
		for _, token := range []string{dee, vic} {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
				code, body := raw(t, method, base+"/v1/audit", "Bearer "+token, strings.NewReader(`{"actor":"admin","action":"nothing"}`))
				if code < 400 {
					t.Errorf("%s /v1/audit by %s: %d %s", method, tokenName(t, base, token), code, body)
				}
			}
			put := fmt.Sprintf(`{"name":"/prod/shop/X","type":"SecureString","value":%q}`, value)
			if code, _ := raw(t, http.MethodPost, base+"/v1/params", "Bearer "+token, strings.NewReader(put)); code != http.StatusForbidden {
				t.Errorf("a refused put: %d", code)
			}
			if code, _ := raw(t, http.MethodGet, base+"/v1/params/value?name=/prod/shop/X&value="+value, "Bearer "+token, nil); code != http.StatusForbidden {
				t.Errorf("a refused read: %d", code)
			}
			if code, _ := raw(t, http.MethodPost, base+"/v1/credentials", "Bearer "+token, strings.NewReader(`{"parameters":["/prod/shop/X"]}`)); code != http.StatusForbidden {
				t.Errorf("refused credentials: %d", code)
			}
		}
		d, ok := signIn(t, base, dee)
		if !ok {
			t.Fatal("cannot sign in")
		}
		if code, page := d.get("/audit", 0); code != http.StatusForbidden || strings.Contains(page, "token.create") {
			t.Errorf("the dashboard's audit page for a deployer: %d", code)
		}
		apiPut(t, base, admin, "/prod/shop/X", value)
		entries := auditOf(t, base, admin)
		b, _ := json.Marshal(entries)
		if bytes.Contains(b, []byte(value)) {
			t.Errorf("the audit log holds a value: %s", b)
		}
		for _, who := range []string{"dee", "vic"} {
			for _, action := range []string{"GET /v1/audit", "POST /v1/params", "GET /v1/params/value", "POST /v1/credentials"} {
				if !slices.ContainsFunc(entries, func(e api.AuditEntry) bool {
					return e.Actor == who && e.Action == action && e.Outcome == api.OutcomeRefused
				}) {
					t.Errorf("no refusal of %s's %s in the audit log", who, action)
				}
			}
		}
	})
}

// Every field of the audit log is one line: nothing a non-admin sends
// (a path, a query, an environment's name) starts a line of its own in
// jetway audit's table, where it would read as an entry by someone else.
func TestAttackIdentityAuditLogLineInjection(t *testing.T) {
	base, admin, _ := startServer(t)
	ctx := context.Background()
	dee := shopDeployer(t, base, admin)
	vic := makeToken(t, base, admin, api.NewTokenRequest{Name: "vic", Role: api.RoleViewer})
	const forged = "\n2026-12-06 10:00:00  admin  token.create  mallory  ok  role=admin\r\x1b[2K\u2028"
	esc := url.PathEscape(forged)
	raw(t, http.MethodPost, base+"/v1/runs/x"+esc+"/cancel", "Bearer "+vic, nil)
	raw(t, http.MethodGet, base+"/v1/runs?project=billing"+url.QueryEscape(forged), "Bearer "+dee, nil)
	_, err := deployWith(ctx, base, dee, api.NewRunRequest{ProjectFile: "project: shop-web\n", Env: "prod" + forged})
	if status, msg := statusAndMessage(err); status != http.StatusBadRequest || !strings.Contains(msg, "environment name") {
		t.Errorf("deploying with a newline in --env: %d %q, want 400", status, msg)
	}
	if _, err := deployWith(ctx, base, dee, api.NewRunRequest{ProjectFile: "project: shop-web\nssm_env: \"a:b\"\n"}); err == nil {
		t.Error("an ssm_env with a colon (the OIDC subject's separator) was accepted")
	}
	entries := auditOf(t, base, admin)
	escaped := 0
	for _, e := range entries {
		for field, v := range map[string]string{"actor": e.Actor, "action": e.Action, "target": e.Target, "detail": e.Detail} {
			if strings.ContainsAny(v, "\r\n\x1b\u2028") {
				t.Errorf("audit entry %d's %s holds a control character: %q", e.Seq, field, v)
			}
			if strings.Contains(v, `\n2026-12-06`) {
				escaped++
			}
		}
	}
	if escaped < 2 {
		t.Errorf("the refusals are not recorded with their text escaped (%d fields): %+v", escaped, entries)
	}
}

// A token limited to some projects sees agents, projects' settings and
// Docker hosts, but not the runs and names of other projects in them.
func TestAttackIdentityScopedTokenSeesNoOtherProjects(t *testing.T) {
	base, admin, _ := startServer(t)
	ctx := context.Background()
	dee := shopDeployer(t, base, admin)
	billing := queueRun(t, base, admin, "billing")
	leaseRun(t, base, admin, billing.ID)
	for _, name := range []string{"billing", "shop-web"} {
		if err := apiclient.New(base, admin).Do(ctx, http.MethodPut, "/v1/projects/"+name, nil, api.Project{Name: name, Docker: api.DockerPolicy{Allow: []string{api.DockerAllowDevices}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var agents []api.Agent
	if err := apiclient.New(base, dee).Do(ctx, http.MethodGet, "/v1/agents", nil, nil, &agents); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if slices.Contains(a.Running, billing.ID) {
			t.Errorf("the deployer sees agent %s run billing's %s", a.Name, billing.ID)
		}
	}
	var all []api.Agent
	if err := apiclient.New(base, admin).Do(ctx, http.MethodGet, "/v1/agents", nil, nil, &all); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(a api.Agent) bool { return slices.Contains(a.Running, billing.ID) }) {
		t.Fatalf("the admin does not see billing's run on its agent: %+v", all)
	}
	var projects []api.Project
	if err := apiclient.New(base, dee).Do(ctx, http.MethodGet, "/v1/projects", nil, nil, &projects); err != nil {
		t.Fatal(err)
	}
	if len(projects) != 1 || projects[0].Name != "shop-web" {
		t.Errorf("the deployer lists projects %+v, want shop-web alone", projects)
	}
	if status, _ := statusAndMessage(apiclient.New(base, dee).Do(ctx, http.MethodGet, "/v1/projects/billing", nil, nil, nil)); status != http.StatusForbidden {
		t.Errorf("the deployer reads billing's settings: %d, want 403", status)
	}
}

// A run's id tokens are its own: another run's token, a user's, or the
// run's own after its end get none, what the runner sends changes no
// claim, and only an admin rotates the key.
func TestAttackIdentityIDTokens(t *testing.T) {
	base, admin := startIssuer(t, "")
	ctx := context.Background()
	dee := shopDeployer(t, base, admin)
	vic := makeToken(t, base, admin, api.NewTokenRequest{Name: "vic", Role: api.RoleViewer})
	const file = "id_tokens:\n  TOK: {aud: sts.amazonaws.com}\n"
	a, err := deployAs(ctx, base, dee, "project: shop-a\n"+file, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokA := leaseRun(t, base, admin, a.ID)
	b, err := deployAs(ctx, base, dee, "project: shop-b\n"+file, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokB := leaseRun(t, base, admin, b.ID)
	for _, tc := range []struct{ name, id, auth string }{
		{"A's token for B", b.ID, "Bearer " + tokA},
		{"the deployer's token", a.ID, "Bearer " + dee},
		{"the admin's token", a.ID, "Bearer " + admin},
		{"none", a.ID, ""},
	} {
		if code, body := raw(t, http.MethodPost, base+"/v1/runs/"+tc.id+"/id-tokens", tc.auth, nil); code != http.StatusUnauthorized || strings.Contains(body, "eyJ") {
			t.Errorf("%s: %d %s, want 401", tc.name, code, body)
		}
	}
	// Claims the runner asks for are ignored.
	code, body := raw(t, http.MethodPost, base+"/v1/runs/"+a.ID+"/id-tokens", "Bearer "+tokA,
		strings.NewReader(`{"sub":"project:billing:env:prod","aud":"evil","project":"billing","run_id":"`+b.ID+`","audience":"evil"}`))
	if code != http.StatusOK {
		t.Fatalf("A's own tokens: %d %s", code, body)
	}
	var out api.IDTokensResponse
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Tokens["TOK"] == "" {
		t.Fatalf("A's own tokens: %s %v", body, err)
	}
	parts := strings.Split(out.Tokens["TOK"], ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub     string `json:"sub"`
		Aud     any    `json:"aud"`
		Project string `json:"project"`
		RunID   string `json:"run_id"`
		Token   string `json:"token"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Sub != "project:shop-a:env:" || claims.Project != "shop-a" || claims.RunID != a.ID || claims.Token != "dee" || fmt.Sprint(claims.Aud) != "sts.amazonaws.com" {
		t.Errorf("claims %s", payload)
	}
	finish(t, base, a.ID, tokA, api.Summary{})
	if code, _ := raw(t, http.MethodPost, base+"/v1/runs/"+a.ID+"/id-tokens", "Bearer "+tokA, nil); code != http.StatusUnauthorized {
		t.Errorf("A's token after its end: %d, want 401", code)
	}
	finish(t, base, b.ID, tokB, api.Summary{})
	for name, token := range map[string]string{"dee": dee, "vic": vic} {
		if code, _ := raw(t, http.MethodPost, base+"/v1/oidc/rotate", "Bearer "+token, nil); code != http.StatusForbidden {
			t.Errorf("%s rotates the OIDC key: %d, want 403", name, code)
		}
	}
	if code, body := raw(t, http.MethodPost, base+"/v1/oidc/rotate", "Bearer "+admin, nil); code != http.StatusOK {
		t.Errorf("the admin rotates the OIDC key: %d %s", code, body)
	}
}
