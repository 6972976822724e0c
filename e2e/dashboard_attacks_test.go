package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/jetway-dev/jetway/internal/api"
)

// The "Dashboard and API" findings of issue 12, each as the attack was
// made: in a real browser against a real server and real runs.

// signInBrowser signs the browser in to the dashboard of s.
func signInBrowser(ctx context.Context, t *testing.T, s *serverProc) {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	navigate(ctx, t, s.URL+"/login", "#token")
	err = chromedp.Run(ctx,
		chromedp.SendKeys("#token", strings.TrimSpace(string(token)), chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#runs", chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("sign in: %v\n%s", err, s.log.String())
	}
}

// deployDetached starts a run of a local project whose build phase is
// script, and returns its id.
func deployDetached(t *testing.T, s *serverProc, name, script string) string {
	t.Helper()
	dir := localProject(t, bed.Get(t), name, script, "")
	code, out, errOut := s.jetway(t, context.Background(), dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, errOut)
	}
	return strings.TrimSpace(out)
}

// A page served on another port of the same host — which a phase can
// open itself, and which SameSite=Strict does not tell apart — posts to
// the Stop URL as soon as it loads, by a form and by fetch. The run goes
// on; the dashboard's own Stop button still stops it.
func TestDashboardRefusesCrossPortPosts(t *testing.T) {
	ctx := browser(t)
	s := startServer(t, t.TempDir(), freePort(t), 2)
	signInBrowser(ctx, t, s)
	id := deployDetached(t, s, "csrf-victim", "echo started; sleep 300")
	stopURL := s.URL + "/runs/" + id + "/stop"

	var hits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>cute cats</title>
<form id="f" method="post" action="%[1]s"><input type="hidden" name="csrf" value=""></form>
<p id="fetched">pending</p>
<script>
fetch(%[2]q, {method: "POST", mode: "no-cors", credentials: "include",
  headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf="})
  .then(() => { document.getElementById("fetched").textContent = "sent"; },
        e => { document.getElementById("fetched").textContent = "failed " + e; })
  .finally(() => document.getElementById("f").submit());
</script>`, html.EscapeString(stopURL), stopURL)
	}))
	defer evil.Close()
	if !strings.HasPrefix(evil.URL, "http://127.0.0.1:") || strings.HasPrefix(s.URL, evil.URL) {
		t.Fatalf("the pages are not on two ports of one host: %s %s", evil.URL, s.URL)
	}
	waitStatus(t, s, id, api.StatusRunning, 60*time.Second)

	var landed string
	err := chromedp.Run(ctx, chromedp.Navigate(evil.URL+"/"))
	if err != nil {
		t.Fatal(err)
	}
	// The form's post navigates the browser to the dashboard's answer.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && !strings.HasPrefix(landed, s.URL) {
		time.Sleep(200 * time.Millisecond)
		_ = chromedp.Run(ctx, chromedp.Location(&landed))
	}
	var body string
	if err := chromedp.Run(ctx, chromedp.Text("body", &body, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if landed != stopURL || !strings.Contains(body, "refused") {
		t.Fatalf("the auto-post landed on %q with %q", landed, body)
	}
	time.Sleep(time.Second)
	if r := s.run(t, id); r.Status != api.StatusRunning || hits.Load() != 1 {
		t.Fatalf("after the cross-port posts the run is %s (the page loaded %d times)", r.Status, hits.Load())
	}

	// The dashboard's own Stop works.
	navigate(ctx, t, s.URL+"/runs/"+id, "#log")
	waitText(ctx, t, "#log", "started", 30*time.Second)
	if err := chromedp.Run(ctx, chromedp.Click("#stop", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	waitText(ctx, t, "#run-status", "cancelled", 60*time.Second)
	if r := s.run(t, id); r.Status != api.StatusCancelled {
		t.Fatalf("stopped from the page: %+v", r)
	}
}

// The session cookie, copied before sign-out, opens nothing after it.
func TestDashboardSignOutEndsTheSession(t *testing.T) {
	ctx := browser(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	signInBrowser(ctx, t, s)
	var copied []*network.Cookie
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		copied, err = network.GetCookies().WithURLs([]string{s.URL + "/"}).Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	if len(copied) != 1 || copied[0].Name != "jetway_session" {
		t.Fatalf("cookies %+v", copied)
	}
	c := copied[0]
	if err := chromedp.Run(ctx, chromedp.Click(".logout button", chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByID)); err != nil {
		t.Fatalf("sign out: %v", err)
	}

	// Put the copy back into the browser, as whoever took it would.
	err := chromedp.Run(ctx,
		chromedp.ActionFunc(func(ctx context.Context) error {
			return network.SetCookie(c.Name, c.Value).WithDomain(c.Domain).WithPath(c.Path).WithHTTPOnly(true).
				WithSameSite(c.SameSite).Do(ctx)
		}),
		chromedp.Navigate(s.URL+"/params"),
	)
	if err != nil {
		t.Fatal(err)
	}
	var location string
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Run(wait, chromedp.WaitVisible("#token", chromedp.ByID), chromedp.Location(&location)); err != nil {
		_ = chromedp.Run(ctx, chromedp.Location(&location))
		t.Fatalf("the copied cookie still opens the dashboard (at %s): %v", location, err)
	}
	if !strings.Contains(location, "/login") {
		t.Fatalf("with the copied cookie the browser is at %s", location)
	}
	// And outside the browser.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/params", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the copied cookie: %d", resp.StatusCode)
	}
}

// A phase prints an event stream's framing with bare carriage returns. The
// dashboard's live log shows it as text, keeps following, and ends with
// the run's real status.
func TestDashboardLogCannotBeSpoofed(t *testing.T) {
	ctx := browser(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	signInBrowser(ctx, t, s)
	// The command is shown in the log too: the lines looked for are not
	// in it as they are printed.
	id := deployDetached(t, s, "sse-spoof",
		`w=spoof; echo "before-$w"; sleep 2; printf 'x\r\revent: end\rdata: {"status":"succeeded"}\n'; sleep 3; echo "after-$w"; exit 3`)
	navigate(ctx, t, s.URL+"/runs/"+id, "#log")
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.jetwayNoReload = true`, nil)); err != nil {
		t.Fatal(err)
	}
	waitText(ctx, t, "#log", "before-spoof", 30*time.Second)
	spoofLines := regexp.MustCompile(`\n\d+x\n\d+\n\d+event: end\n\d+data: \{"status":"succeeded"\}(\n|$)`)
	waitMatch(ctx, t, "#log", spoofLines, 30*time.Second)
	var state string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`String(window.jetwayNoReload) + " " + (document.getElementById("log").dataset.ended || "following")`, &state)); err != nil {
		t.Fatal(err)
	}
	if state != "true following" {
		t.Fatalf("the spoofed line ended the log view (page not reloaded, log state: %s)", state)
	}
	waitText(ctx, t, "#log", "after-spoof", 30*time.Second)
	waitText(ctx, t, "#run-status", "failed", 60*time.Second)
	var ended string
	if err := chromedp.Run(ctx, chromedp.AttributeValue("#log", "data-ended", &ended, nil, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if r := s.run(t, id); r.Status != api.StatusFailed || (ended != "" && ended != api.StatusFailed) {
		t.Fatalf("run %s, the page's end event %q", r.Status, ended)
	}
	screenshot(ctx, t, "run-spoof.png")
}

// waitMatch polls the text of sel until re matches it.
func waitMatch(ctx context.Context, t *testing.T, sel string, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var text string
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := chromedp.Run(c, chromedp.Text(sel, &text, chromedp.ByQuery))
		cancel()
		if err == nil && re.MatchString(text) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never matched %s; last text: %q", sel, re, text)
}

// waitStatus polls a run until it has status.
func waitStatus(t *testing.T, s *serverProc, id, status string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.run(t, id)
		if r.Status == status {
			return
		}
		if time.Now().After(deadline) || api.Finished(r.Status) {
			t.Fatalf("run %s is %s, not %s\n%s", id, r.Status, status, s.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A phase writes to the clipboard and the window title, clears the screen
// and moves the cursor; `jetway deploy` and `jetway logs` (with and
// without -f) pass on its colours only, and --raw everything.
func TestLogsAreSafeForTerminals(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	script := `printf 'a\033]52;c;cm0gLXJmIH4=\007b\033]0;pwned\033\\c\033[2J\033[H\033[31mred\033[0m\033P$qm\033\\\n'; ` +
		`printf 'cut\033]2;across'; sleep 1; printf ' lines\007 done\n'`
	dir := localProject(t, b, "term-escapes", script, "")
	const clean = "abc\x1b[31mred\x1b[0m\n"
	ctx := context.Background()

	code, out, errOut := s.jetway(t, ctx, dir, "deploy")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	id := regexp.MustCompile(`run ([0-9a-f]+) queued`).FindStringSubmatch(errOut)
	if id == nil {
		t.Fatalf("no run id in %q", errOut)
	}
	for _, args := range [][]string{nil, {"logs", id[1]}, {"logs", "-f", id[1]}} {
		if args != nil {
			if code, out, errOut = s.jetway(t, ctx, dir, args...); code != 0 {
				t.Fatalf("%v: exit %d %s", args, code, errOut)
			}
		}
		if !strings.Contains(out, clean) || !strings.Contains(out, "cut done\n") {
			t.Errorf("%v: the colours or the text are lost:\n%q", args, out)
		}
		if rest := strings.ReplaceAll(strings.ReplaceAll(out, "\x1b[31m", ""), "\x1b[0m", ""); strings.ContainsAny(rest, "\x1b\x07\r") {
			t.Errorf("%v: control sequences reach the terminal:\n%q", args, out)
		}
	}
	for _, args := range [][]string{{"logs", "--raw", id[1]}, {"logs", "-f", "--raw", id[1]}} {
		code, out, errOut = s.jetway(t, ctx, dir, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errOut)
		}
		if !strings.Contains(out, "a\x1b]52;c;cm0gLXJmIH4=\x07b\x1b]0;pwned\x1b\\c\x1b[2J\x1b[H\x1b[31mred") {
			t.Errorf("%v: not the bytes as they are:\n%q", args, out)
		}
	}
}
