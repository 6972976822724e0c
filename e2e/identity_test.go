package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jetway-dev/jetway/internal/api"
)

// Issue 22, end to end: tokens with roles and scopes as their holders use
// them — through the real CLI with JETWAY_TOKEN or --token, and through
// the dashboard in Chromium — against a real server and real runs.

// jetwayAs runs the CLI as s.jetway does, with JETWAY_TOKEN set to token.
func jetwayAs(t *testing.T, ctx context.Context, s *serverProc, token, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, jetwayBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + s.Home, "PATH=" + os.Getenv("PATH"), "JETWAY_SERVER=" + s.URL, "JETWAY_TOKEN=" + token}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code = 0
	if err := cmd.Run(); err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return code, out.String(), errb.String()
}

// createToken makes a token with the server's own (admin) token through
// jetway tokens create, and returns it.
func createToken(t *testing.T, s *serverProc, name string, flags ...string) string {
	t.Helper()
	args := append([]string{"tokens", "create", name}, flags...)
	code, out, errOut := s.jetway(t, context.Background(), t.TempDir(), args...)
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, "jwu_") || strings.Contains(token, "\n") {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return token
}

// shopProject writes a project whose build phase gets DB from ref, proves
// it got want without printing it, and prints it (for the masker).
func shopProject(t *testing.T, name, ref, want string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(want))
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"jetway.yaml": fmt.Sprintf(`project: %s
env:
  vars:
    DOCKER_HOST: unix://%s
    DB: %s
phases:
  build:
    - test "$(printf %%s "$DB" | sha256sum | cut -c1-16)" = %s && echo "db value ok"
    - echo "db is $DB"
`, name, bed.Get(t).LocalSocket, ref, hex.EncodeToString(sum[:])[:16])})
	return dir
}

// runIDs lists the ids of every run of s, through the API with its own
// token.
func runIDs(t *testing.T, s *serverProc) []string {
	t.Helper()
	var runs []api.Run
	if err := s.client(t).Do(context.Background(), http.MethodGet, "/v1/runs?limit=1000", nil, nil, &runs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

// auditHas reports whether an entry matches every non-empty field of want
// (Detail and Target by substring).
func auditHas(entries []api.AuditEntry, want api.AuditEntry) bool {
	for _, e := range entries {
		if (want.Actor == "" || e.Actor == want.Actor) && (want.Action == "" || e.Action == want.Action) &&
			(want.Outcome == "" || e.Outcome == want.Outcome) && strings.Contains(e.Target, want.Target) &&
			strings.Contains(e.Detail, want.Detail) {
			return true
		}
	}
	return false
}

// Each role through the real CLI: a deployer scoped to shop-* and
// /prod/shop/* deploys shop-web, whose run gets its granted parameter
// (masked in the log); it may not deploy billing, read or write the
// parameter store, nor start a run that references /prod/billing/DB —
// refused before anything is queued, so the value reaches no runner. A
// viewer lists runs but may not deploy. tokens ls shows who used their
// token; a revoked token and an expired one are refused; the audit log
// holds the deploys, the refusals and the run's reads by name, never a
// value.
func TestIdentityRolesThroughTheCLI(t *testing.T) {
	s := startServer(t, t.TempDir(), freePort(t), 1)
	ctx := context.Background()
	const shopDB, billingDB, billingSecret = "shop-db-pw-8c1f2e", "billing-db-pw-77aa1d", "billing-api-key-4d0e93"
	admin := func(args ...string) {
		t.Helper()
		if code, out, errOut := s.jetway(t, ctx, t.TempDir(), args...); code != 0 {
			t.Fatalf("%v as admin: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	admin("params", "put", "/prod/shop/DB", "--type", "SecureString", "--value", shopDB)
	admin("params", "put", "/prod/billing/DB", "--type", "SecureString", "--value", billingDB)
	s.putParam(t, "/prod/billing/API_KEY", "SecureString", billingSecret)

	viewer := createToken(t, s, "vic", "--role", "viewer")
	deployer := createToken(t, s, "dee", "--role", "deployer", "--projects", "shop-*", "--params", "/prod/shop/*")
	createToken(t, s, "idle", "--role", "viewer")
	expiring := createToken(t, s, "brief", "--role", "viewer", "--expires", "1s")

	// The deployer deploys its project; the run resolves the granted
	// reference and the log shows it masked.
	code, out, errOut := jetwayAs(t, ctx, s, deployer, shopProject(t, "shop-web", "SSM:/prod/shop/DB", shopDB), "deploy")
	m := queuedRE.FindStringSubmatch(errOut)
	if code != 0 || m == nil {
		t.Fatalf("deployer's deploy of shop-web: exit %d\n%s%s\nserver:\n%s", code, out, errOut, s.log.String())
	}
	shopRun := m[1]
	if !strings.Contains(out, "db value ok") || !strings.Contains(out, "db is [MASKED]") || strings.Contains(out, shopDB) {
		t.Fatalf("the run did not get its granted parameter, or printed it:\n%s", out)
	}
	if r := s.run(t, shopRun); r.Status != api.StatusSucceeded {
		t.Fatalf("shop-web run: %+v", r)
	}
	before := runIDs(t, s)

	// What the deployer may not do: each exits 1 naming what it lacks.
	refusals := []struct {
		name string
		dir  string
		args []string
		want []string
	}{
		{"another project", shopProject(t, "billing", "SSM:/prod/shop/DB", shopDB), []string{"deploy"},
			[]string{"token dee may not see or act on project billing"}},
		{"params ls", "", []string{"params", "ls"}, []string{"parameter store"}},
		{"params put", "", []string{"params", "put", "/prod/shop/DB", "--value", "overwritten", "--overwrite"}, []string{"parameter store"}},
		{"ungranted references", shopProject(t, "shop-web", "SSM:/prod/billing/DB", billingDB),
			[]string{"deploy", "-e", "KEY=SECRET:billing"},
			[]string{"token dee may not resolve SECRET:billing, SSM:/prod/billing/DB;"}},
		{"an ungranted reference given with -e", shopProject(t, "shop-web", "SSM:/prod/shop/DB", shopDB),
			[]string{"deploy", "-e", "API_KEY=SSM:/prod/billing/API_KEY"},
			[]string{"token dee may not resolve SSM:/prod/billing/API_KEY;"}},
	}
	for _, c := range refusals {
		dir := c.dir
		if dir == "" {
			dir = t.TempDir()
		}
		code, out, errOut := jetwayAs(t, ctx, s, deployer, dir, c.args...)
		for _, want := range c.want {
			if code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("deployer, %s: exit %d, want 1 and %q\n%s%s", c.name, code, want, out, errOut)
			}
		}
		if queuedRE.MatchString(errOut) {
			t.Errorf("deployer, %s: a run was queued:\n%s", c.name, errOut)
		}
	}
	if after := runIDs(t, s); len(after) != len(before) {
		t.Errorf("refused deploys made runs: %v, then %v", before, after)
	}
	if code, out, errOut := s.jetway(t, ctx, t.TempDir(), "params", "get", "/prod/shop/DB", "--decrypt"); code != 0 || !strings.Contains(out, shopDB) {
		t.Errorf("the refused put changed the parameter: exit %d %s%s", code, out, errOut)
	}

	// The viewer reads runs (with --token this time) but may not deploy.
	if code, out, errOut := s.jetway(t, ctx, t.TempDir(), "runs", "--token", viewer); code != 0 || !strings.Contains(out, shopRun) {
		t.Errorf("viewer's jetway runs: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = jetwayAs(t, ctx, s, viewer, shopProject(t, "shop-web", "SSM:/prod/shop/DB", shopDB), "deploy")
	if code != 1 || !strings.Contains(errOut, "token vic (role viewer) may not deploy") || queuedRE.MatchString(errOut) {
		t.Errorf("viewer's deploy: exit %d\n%s%s", code, out, errOut)
	}

	// tokens ls --json: last used for those used, none for the idle one.
	code, out, errOut = s.jetway(t, ctx, t.TempDir(), "tokens", "ls", "--json")
	var tokens []api.Token
	if code != 0 || json.Unmarshal([]byte(out), &tokens) != nil {
		t.Fatalf("tokens ls --json: exit %d\n%s%s", code, out, errOut)
	}
	used := map[string]*time.Time{}
	for _, tok := range tokens {
		if tok.LastUsedAt != nil && tok.LastUsedAt.Before(tok.CreatedAt.Add(-time.Second)) {
			t.Errorf("token %s last used before it was made: %+v", tok.Name, tok)
		}
		used[tok.Name] = tok.LastUsedAt
	}
	if len(tokens) != 4 || used["vic"] == nil || used["dee"] == nil || used["idle"] != nil {
		t.Errorf("tokens ls --json: %s", out)
	}
	if strings.Contains(out, viewer) || strings.Contains(out, deployer) {
		t.Errorf("tokens ls shows a token itself:\n%s", out)
	}

	// Revoked: the next command is refused.
	admin("tokens", "revoke", "vic")
	code, out, errOut = jetwayAs(t, ctx, s, viewer, t.TempDir(), "runs")
	if code == 0 || !strings.Contains(errOut, "revoked") || strings.Contains(out, shopRun) {
		t.Errorf("the revoked token's jetway runs: exit %d\n%s%s", code, out, errOut)
	}
	// Expired: refused once its second has passed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut = jetwayAs(t, ctx, s, expiring, t.TempDir(), "runs")
		if code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token that expires after 1s still works after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 1 || !strings.Contains(errOut, "token brief expired at") {
		t.Errorf("the expired token's jetway runs: exit %d\n%s%s", code, out, errOut)
	}

	// The audit log, as jetway audit --json shows it.
	code, auditOut, errOut := s.jetway(t, ctx, t.TempDir(), "audit", "--json")
	var entries []api.AuditEntry
	if code != 0 || json.Unmarshal([]byte(auditOut), &entries) != nil {
		t.Fatalf("audit --json: exit %d\n%s%s", code, auditOut, errOut)
	}
	for _, want := range []api.AuditEntry{
		{Actor: "admin", Action: "token.create", Target: "dee", Detail: "projects=shop-*", Outcome: api.OutcomeOK},
		{Actor: "admin", Action: "token.revoke", Target: "vic", Outcome: api.OutcomeOK},
		{Actor: "admin", Action: "param.put", Target: "/prod/billing/DB", Outcome: api.OutcomeOK},
		{Actor: "dee", Action: "deploy", Target: "shop-web", Detail: "run " + shopRun, Outcome: api.OutcomeOK},
		{Actor: "run:" + shopRun, Target: "/prod/shop/DB", Detail: "read", Outcome: api.OutcomeOK},
		{Actor: "dee", Target: "billing", Detail: "may not see or act on project billing", Outcome: api.OutcomeRefused},
		{Actor: "dee", Action: "GET /v1/params", Detail: "parameter store", Outcome: api.OutcomeRefused},
		{Actor: "dee", Action: "POST /v1/params", Detail: "parameter store", Outcome: api.OutcomeRefused},
		{Actor: "dee", Target: "shop-web", Detail: "may not resolve SECRET:billing, SSM:/prod/billing/DB", Outcome: api.OutcomeRefused},
		{Actor: "dee", Target: "shop-web", Detail: "may not resolve SSM:/prod/billing/API_KEY", Outcome: api.OutcomeRefused},
		{Actor: "vic", Detail: "may not deploy", Outcome: api.OutcomeRefused},
		{Actor: "brief", Detail: "token expired", Outcome: api.OutcomeRefused},
	} {
		if !auditHas(entries, want) {
			t.Errorf("the audit log lacks %+v", want)
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Actor, "run:") && (strings.Contains(e.Target, "billing") || strings.Contains(e.Detail, "billing")) {
			t.Errorf("a run was given or read a billing name: %+v", e)
		}
	}

	// No ungranted value reached a runner, and no value is in the audit
	// log: look in every run's log and in all the server printed too.
	var logs strings.Builder
	for _, id := range runIDs(t, s) {
		code, out, errOut := s.jetway(t, ctx, t.TempDir(), "logs", "--raw", id)
		if code != 0 {
			t.Fatalf("logs %s: exit %d %s", id, code, errOut)
		}
		logs.WriteString(out)
	}
	for _, v := range []string{shopDB, billingDB, billingSecret} {
		for what, text := range map[string]string{"a run's log": logs.String(), "the audit log": auditOut, "the server's output": s.log.String()} {
			if strings.Contains(text, v) {
				t.Errorf("%s holds the value %q", what, v)
			}
		}
	}
	if !strings.Contains(logs.String(), "db value ok") {
		t.Fatalf("the logs read are not the runs' logs:\n%s", logs.String())
	}
}

// signInAs signs the browser in to s's dashboard with token, ending the
// session it had.
func signInAs(ctx context.Context, t *testing.T, s *serverProc, token string) {
	t.Helper()
	navigate(ctx, t, s.URL+"/login", "#token")
	err := chromedp.Run(ctx,
		chromedp.SendKeys("#token", token, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#runs", chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("sign in: %v\n%s", err, s.log.String())
	}
}

// evalJS evaluates a script in the page, awaiting the promise it returns.
func evalJS(ctx context.Context, t *testing.T, script string, out any) {
	t.Helper()
	err := chromedp.Run(ctx, chromedp.Evaluate(script, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if err != nil {
		t.Fatalf("evaluating %s: %v", script, err)
	}
}

// forgePost posts to path from the page, same origin, with the CSRF
// token of the page's own forms (the Sign out form has one on every
// page), and returns the status and body of the answer.
func forgePost(ctx context.Context, t *testing.T, path string) (int, string) {
	t.Helper()
	var got struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	evalJS(ctx, t, fmt.Sprintf(`(async () => {
  const csrf = document.querySelector('input[name="csrf"]').value;
  const r = await fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "csrf=" + encodeURIComponent(csrf)});
  return {status: r.status, body: await r.text()};
})()`, path), &got)
	return got.Status, got.Body
}

// fetchStatus GETs path from the page and returns the status and body.
func fetchStatus(ctx context.Context, t *testing.T, path string) (int, string) {
	t.Helper()
	var got struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	evalJS(ctx, t, fmt.Sprintf(`fetch(%q).then(async r => ({status: r.status, body: await r.text()}))`, path), &got)
	return got.Status, got.Body
}

// A viewer in Chromium: who is signed in shows, there are no parameter,
// audit, stop or rerun controls, /params and /audit are refused, and
// posts forged from its own session to stop and rerun are refused with
// 403 and change nothing — where the same posts from an admin's session
// work. The admin's audit log page shows the viewer's sign-in and
// refusals. Revoking the viewer's token signs its open session out.
func TestIdentityDashboardViewer(t *testing.T) {
	ctx := browser(t)
	s := startServer(t, t.TempDir(), freePort(t), 2)
	viewer := createToken(t, s, "vera", "--role", "viewer")
	adminToken, err := os.ReadFile(s.DataDir + "/token")
	if err != nil {
		t.Fatal(err)
	}
	done := deployDetached(t, s, "dash-done", "echo finished")
	s.waitFinished(t, []string{done}, 2*time.Minute)
	running := deployDetached(t, s, "dash-running", "echo started; sleep 300")
	waitStatus(t, s, running, api.StatusRunning, 60*time.Second)

	signInAs(ctx, t, s, viewer)
	waitText(ctx, t, "#who", "vera (viewer)", 10*time.Second)
	controls := func(selectors string) bool {
		t.Helper()
		var found bool
		evalJS(ctx, t, fmt.Sprintf(`document.querySelector(%q) !== null`, selectors), &found)
		return found
	}
	if controls(`nav a[href="/params"], nav a[href="/audit"]`) || !controls(`nav a[href="/hosts"]`) {
		t.Errorf("the viewer's navigation offers parameters or the audit log, or is missing")
	}
	for _, id := range []string{done, running} {
		navigate(ctx, t, s.URL+"/runs/"+id, "#log")
		if controls(`#stop, #stop-form, #rerun, #rerun-form, form[action*="/stop"], form[action*="/rerun"]`) {
			t.Errorf("run %s's page offers the viewer Stop or Rerun", id)
		}
	}
	for _, path := range []string{"/params", "/audit"} {
		if status, body := fetchStatus(ctx, t, path); status != http.StatusForbidden || !strings.Contains(body, "token vera (role viewer) may not") {
			t.Errorf("the viewer's GET %s: %d %s", path, status, body)
		}
	}
	before := runIDs(t, s)
	for _, post := range []struct{ path, id string }{{"/runs/" + done + "/rerun", done}, {"/runs/" + running + "/stop", running}} {
		status, body := forgePost(ctx, t, post.path)
		if status != http.StatusForbidden || !strings.Contains(body, "may not deploy, rerun and stop runs") {
			t.Errorf("the viewer's forged POST %s: %d %s", post.path, status, body)
		}
	}
	if after := runIDs(t, s); len(after) != len(before) {
		t.Errorf("the forged rerun made a run: %v, then %v", before, after)
	}
	if r := s.run(t, running); r.Status != api.StatusRunning {
		t.Errorf("after the viewer's forged stop the run is %s", r.Status)
	}

	// The same posts from an admin's session go through: the viewer's
	// were refused for its role, not for their form.
	signInAs(ctx, t, s, strings.TrimSpace(string(adminToken)))
	waitText(ctx, t, "#who", "admin (admin)", 10*time.Second)
	if !controls(`nav a[href="/params"]`) || !controls(`nav a[href="/audit"]`) {
		t.Errorf("the admin's navigation lacks Parameters or Audit log")
	}
	if status, body := forgePost(ctx, t, "/runs/"+running+"/stop"); status != http.StatusOK {
		t.Errorf("the admin's POST of stop: %d %s", status, body)
	}
	waitStatus(t, s, running, api.StatusCancelled, 60*time.Second)

	navigate(ctx, t, s.URL+"/audit", "#audit")
	var rows [][]string
	evalJS(ctx, t, `[...document.querySelectorAll("#audit tbody tr")].map(tr => [...tr.cells].map(td => td.textContent))`, &rows)
	var entries []api.AuditEntry
	for _, r := range rows {
		if len(r) != 6 {
			t.Fatalf("audit row %q", r)
		}
		entries = append(entries, api.AuditEntry{Actor: r[1], Action: r[2], Target: r[3], Outcome: r[4], Detail: r[5]})
	}
	for _, want := range []api.AuditEntry{
		{Actor: "vera", Action: "sign-in", Target: "dashboard", Outcome: api.OutcomeOK},
		{Actor: "vera", Action: "dashboard parameters", Detail: "may not read and write the parameter store", Outcome: api.OutcomeRefused},
		{Actor: "vera", Action: "dashboard audit log", Outcome: api.OutcomeRefused},
		{Actor: "vera", Action: "dashboard rerun", Target: done, Detail: "may not deploy", Outcome: api.OutcomeRefused},
		{Actor: "vera", Action: "dashboard stop", Target: running, Detail: "may not deploy", Outcome: api.OutcomeRefused},
		{Actor: "admin", Action: "stop", Target: "dash-running", Outcome: api.OutcomeOK},
	} {
		if !auditHas(entries, want) {
			t.Errorf("the audit log page lacks %+v; it shows:\n%q", want, rows)
		}
	}
	screenshot(ctx, t, "audit.png")

	// Revoked while signed in: the next page load signs the session out.
	signInAs(ctx, t, s, viewer)
	waitText(ctx, t, "#who", "vera (viewer)", 10*time.Second)
	if code, out, errOut := s.jetway(t, context.Background(), t.TempDir(), "tokens", "revoke", "vera"); code != 0 {
		t.Fatalf("revoke: exit %d %s%s", code, out, errOut)
	}
	navigate(ctx, t, s.URL+"/runs/"+done, "#token")
	var location string
	if err := chromedp.Run(ctx, chromedp.Location(&location)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(location, s.URL+"/login") || controls("#who") {
		t.Errorf("after the revocation the page is %s", location)
	}
	if status, body := fetchStatus(ctx, t, "/"); status != http.StatusOK || !strings.Contains(body, `id="token"`) {
		t.Errorf("after the revocation the runs list answers %d:\n%s", status, body)
	}
}
