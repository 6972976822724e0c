package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// newServer runs a real server (without an executor, so runs stay queued)
// holding a parameter and two runs.
func newServer(t *testing.T) (base, token string, runIDs []string) {
	t.Helper()
	base, token = servertest.Start(t, server.Options{DataDir: filepath.Join(t.TempDir(), "data")})
	c := apiclient.New(base, token)
	ctx := context.Background()
	if err := c.Do(ctx, http.MethodPost, "/v1/params", nil, api.PutParamRequest{Name: "/dev/DOCKER_PASS", Type: "SecureString", Value: "very-secret-value"}, nil); err != nil {
		t.Fatal(err)
	}
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"alpha", "beta"} {
		var run api.Run
		err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: "project: " + p + "\nphases:\n  build: [\"echo hi\"]\n", Bundle: bundle.ID, StartedBy: "tester@host"}, &run)
		if err != nil {
			t.Fatal(err)
		}
		runIDs = append(runIDs, run.ID)
	}
	return base, token, runIDs
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestPagesNeedSignIn(t *testing.T) {
	base, _, ids := newServer(t)
	c := &http.Client{CheckRedirect: noRedirects}
	for _, path := range []string{"/", "/runs/" + ids[0], "/params", "/hosts", "/agents", "/?project=alpha"} {
		resp, _ := get(t, c, base+path)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %d %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/events", "/events?run=" + ids[0], "/agents/events", "/runs/" + ids[0] + "/log"} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("event stream %s without a session: %d", path, resp.StatusCode)
		}
	}
	resp, err := c.PostForm(base+"/runs/"+ids[0]+"/stop", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stop without a session: %d", resp.StatusCode)
	}
	resp, body := get(t, c, base+"/login")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "not a token of this server") || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong token: %d %v", resp.StatusCode, resp.Cookies())
	}
}

func signIn(t *testing.T, base, token string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirects}
	resp, err := c.PostForm(base+"/login", url.Values{"token": {token}, "next": {"/params"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/params" {
		t.Fatalf("sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || strings.Contains(cookies[0].Value, token) ||
		cookies[0].MaxAge <= 0 || cookies[0].MaxAge > 12*60*60 {
		t.Fatalf("session cookie %+v", cookies)
	}
	return c
}

func TestPages(t *testing.T) {
	base, token, ids := newServer(t)
	c := signIn(t, base, token)

	_, body := get(t, c, base+"/")
	for _, want := range []string{ids[0], ids[1], "alpha", "beta", "queued", "tester@host", `href="/runs/` + ids[0] + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("runs page lacks %q", want)
		}
	}
	_, body = get(t, c, base+"/?project=alpha")
	if !strings.Contains(body, ids[0]) || strings.Contains(body, `id="run-`+ids[1]) {
		t.Errorf("project filter: %s", body)
	}
	_, body = get(t, c, base+"/?status=succeeded")
	if strings.Contains(body, `id="run-`+ids[0]) {
		t.Error("status filter shows a queued run")
	}
	resp, body := get(t, c, base+"/runs/"+ids[0])
	if resp.StatusCode != 200 || !strings.Contains(body, "Run "+ids[0]) || !strings.Contains(body, `id="stop"`) || !strings.Contains(body, `id="log"`) || !strings.Contains(body, `id="run-token">admin<`) {
		t.Fatalf("run page: %d", resp.StatusCode)
	}
	resp, _ = get(t, c, base+"/runs/nope")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing run: %d", resp.StatusCode)
	}
	_, body = get(t, c, base+"/params")
	if !strings.Contains(body, "/dev/DOCKER_PASS") || !strings.Contains(body, "SecureString") || strings.Contains(body, "very-secret-value") {
		t.Errorf("params page: %s", body)
	}
	resp, body = get(t, c, base+"/hosts")
	if resp.StatusCode != 200 || !strings.Contains(body, "Docker hosts") {
		t.Errorf("hosts page: %d", resp.StatusCode)
	}
	resp, _ = get(t, c, base+"/static/app.js")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Errorf("static asset: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}

	// Stop a queued run from the page.
	resp, err := c.PostForm(base+"/runs/"+ids[1]+"/stop", url.Values{"csrf": {csrfOf(t, body)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop: %d", resp.StatusCode)
	}
	_, body = get(t, c, base+"/runs/"+ids[1])
	if !strings.Contains(body, "cancelled") || strings.Contains(body, `id="stop"`) {
		t.Errorf("after stop: %s", body)
	}
	// The cookie opens the pages, not the API.
	resp, _ = get(t, c, base+"/v1/runs")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the API took the dashboard cookie: %d", resp.StatusCode)
	}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`)

// csrfOf returns the CSRF token of a page's forms.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// post sends a form with extra headers, as a browser would.
func post(t *testing.T, c *http.Client, u string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func runStatus(t *testing.T, base, token, id string) string {
	t.Helper()
	var run api.Run
	if err := apiclient.New(base, token).Do(context.Background(), http.MethodGet, "/v1/runs/"+id, nil, nil, &run); err != nil {
		t.Fatal(err)
	}
	return run.Status
}

// A page of another origin — another port of the same host included,
// which SameSite does not separate — cannot make the signed-in browser
// stop a run or sign out: the origin is checked, and the form must carry
// the session's CSRF token.
func TestCrossSiteFormsAreRefused(t *testing.T) {
	base, token, ids := newServer(t)
	c := signIn(t, base, token)
	_, page := get(t, c, base+"/runs/"+ids[0])
	csrf := csrfOf(t, page)
	stop := base + "/runs/" + ids[0] + "/stop"
	host := strings.TrimPrefix(base, "http://")
	hostOnly, _, _ := strings.Cut(host, ":")
	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"from another port (Origin)", url.Values{"csrf": {csrf}}, http.Header{"Origin": {"http://" + hostOnly + ":1"}}},
		{"from another port (Sec-Fetch-Site)", url.Values{"csrf": {csrf}}, http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"http://" + hostOnly + ":1"}}},
		{"from another site", url.Values{"csrf": {csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"from a null origin", url.Values{"csrf": {csrf}}, http.Header{"Origin": {"null"}}},
		{"without the CSRF token", nil, http.Header{"Origin": {base}}},
		{"with another CSRF token", url.Values{"csrf": {strings.Repeat("0", 64)}}, http.Header{"Sec-Fetch-Site": {"same-origin"}}},
		{"with the token in the query only", nil, http.Header{"Origin": {base}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := stop
			if tc.name == "with the token in the query only" {
				u += "?csrf=" + csrf
			}
			resp, body := post(t, c, u, tc.form, tc.header)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "refused") {
				t.Errorf("stop: %d %s", resp.StatusCode, body)
			}
			if st := runStatus(t, base, token, ids[0]); st != api.StatusQueued {
				t.Fatalf("the run was stopped: %s", st)
			}
			resp, body = post(t, c, base+"/logout", tc.form, tc.header)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("sign-out: %d %s", resp.StatusCode, body)
			}
			if resp, _ := get(t, c, base+"/"); resp.StatusCode != http.StatusOK {
				t.Fatalf("the session ended: %d", resp.StatusCode)
			}
		})
	}
	// The dashboard's own form, as a browser sends it.
	resp, body := post(t, c, stop, url.Values{"csrf": {csrf}}, http.Header{"Origin": {base}, "Sec-Fetch-Site": {"same-origin"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop from the dashboard: %d %s", resp.StatusCode, body)
	}
	if st := runStatus(t, base, token, ids[0]); st != api.StatusCancelled {
		t.Fatalf("after stop: %s", st)
	}
	// Each session has its own CSRF token.
	_, other := get(t, signIn(t, base, token), base+"/runs/"+ids[1])
	if csrfOf(t, other) == csrf {
		t.Error("two sessions share a CSRF token")
	}
}

// Signing out ends the session on the server: a copy of the cookie taken
// before is refused after.
func TestSignOutEndsTheSession(t *testing.T) {
	base, token, ids := newServer(t)
	c := signIn(t, base, token)
	u, _ := url.Parse(base)
	copied := c.Jar.Cookies(u)
	if len(copied) != 1 || len(copied[0].Value) != 64 {
		t.Fatalf("session cookie %+v", copied)
	}
	_, page := get(t, c, base+"/runs/"+ids[0])
	csrf := csrfOf(t, page)
	resp, _ := post(t, c, base+"/logout", url.Values{"csrf": {csrf}}, http.Header{"Origin": {base}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, c, base+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the browser is still signed in: %d", resp.StatusCode)
	}

	// The copy, in another client.
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, copied)
	thief := &http.Client{Jar: jar, CheckRedirect: noRedirects}
	for _, path := range []string{"/", "/runs/" + ids[0], "/params"} {
		if resp, _ := get(t, thief, base+path); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET %s with the copied cookie: %d", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/runs/"+ids[0]+"/log", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := thief.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("log stream with the copied cookie: %d", resp.StatusCode)
	}
	resp, _ = post(t, thief, base+"/runs/"+ids[0]+"/stop", url.Values{"csrf": {csrf}}, http.Header{"Origin": {base}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stop with the copied cookie: %d", resp.StatusCode)
	}
	if st := runStatus(t, base, token, ids[0]); st != api.StatusQueued {
		t.Errorf("the run was stopped: %s", st)
	}
}
