package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jetway-dev/jetway/internal/api"
)

// postJSON posts body to the server with a bearer token and decodes the
// answer into out (if any).
func postJSON(t *testing.T, s *serverProc, path, token, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, data)
		}
	}
}

// evaluate runs a JavaScript expression in the page.
func evaluate(ctx context.Context, t *testing.T, expr string, out any) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, out)); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
}

// navigate opens url and waits for sel. Chromium fails a page load when
// the machine's network changes — each sandboxed run adds a veth pair, and
// other tests set links up and down — so such a load is tried again.
func navigate(ctx context.Context, t *testing.T, url, sel string) {
	t.Helper()
	var err error
	for range 20 {
		// ERR_ABORTED: the page before reloaded itself (a run page does when
		// its run ends) while this navigation started.
		if err = chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitVisible(sel, chromedp.ByQuery)); err == nil ||
			!strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") && !strings.Contains(err.Error(), "ERR_ABORTED") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
}

// The Agents page and the agent of each run, in Chromium, against a real
// server and an agent that speaks the protocol by hand: b1 appears when
// its token is made, its labels and a recent last seen when it speaks, and
// it goes offline when it falls silent for the lease timeout — all on the
// open page. A run of the server's own agent names it; a run only b1's
// pool may take says why it waits, on the list and on its page, and its
// page names b1 the moment b1 leases it.
func TestDashboardAgentsInABrowser(t *testing.T) {
	b := bed.Get(t)
	ctx := browser(t)
	// A lease timeout shorter than the default (30 s) makes the test
	// quicker, and shows that the page keeps the server's.
	const lease = 15 * time.Second
	s := startServerWith(t, t.TempDir(), freePort(t), 1, "--allow-local-docker", "--lease-timeout", lease.String())
	apiToken, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	signInBrowser(ctx, t, s)

	// The server's own agent is there; b1 appears once it has a token.
	waitText(ctx, t, `nav a[href="/agents"]`, "Agents", time.Second)
	navigate(ctx, t, s.URL+"/agents", "#agents")
	waitText(ctx, t, "main > p", "An agent silent for "+lease.String()+" is offline", time.Second)
	waitText(ctx, t, "#agent-local", "online", 10*time.Second)
	evaluate(ctx, t, "window.notReloaded = true", nil)
	var created api.NewAgentResponse
	postJSON(t, s, "/v1/agents", strings.TrimSpace(string(apiToken)), `{"name":"b1","labels":{"pool":"builders"}}`, &created)
	if !strings.HasPrefix(created.Token, "jwa_") {
		t.Fatalf("agent token %+v", created)
	}
	waitText(ctx, t, "#agent-b1", "never seen", 10*time.Second)
	var notReloaded bool
	if evaluate(ctx, t, "window.notReloaded === true", &notReloaded); !notReloaded {
		t.Fatal("the Agents page was reloaded")
	}

	// A run of the server's own agent names it, on the list and its page.
	navigate(ctx, t, s.URL+"/", "#runs")
	local := deployDetached(t, s, "agents-local", "echo here")
	waitText(ctx, t, "#run-"+local+" td.agent", "local", 30*time.Second)
	waitStatus(t, s, local, api.StatusSucceeded, 60*time.Second)
	navigate(ctx, t, s.URL+"/runs/"+local, "#facts")
	waitText(ctx, t, "#run-agent", "local", 10*time.Second)

	// A run for the builders' pool waits, and the list says why, live.
	navigate(ctx, t, s.URL+"/", "#runs")
	dir := localProject(t, b, "agents-builders", "echo built", "runs_on: {pool: builders}\n")
	code, out, errOut := s.jetway(t, context.Background(), dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: %s", errOut)
	}
	waiting := strings.TrimSpace(out)
	why := ""
	for deadline := time.Now().Add(10 * time.Second); why == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never says why the run waits")
		}
		why = s.run(t, waiting).Reason
	}
	if !strings.Contains(why, "pool=builders") {
		t.Errorf("the reason does not name the labels: %q", why)
	}
	waitText(ctx, t, "#run-"+waiting+" td.agent", why, 10*time.Second)
	screenshot(ctx, t, "runs-waiting.png")
	navigate(ctx, t, s.URL+"/runs/"+waiting, "#facts")
	waitText(ctx, t, "#run-reason", why, 10*time.Second)
	waitText(ctx, t, "#run-reason-label", "Waits", time.Second)
	waitText(ctx, t, "#run-agent", "-", time.Second)

	// b1 speaks: its labels and a recent last seen appear on the open page.
	navigate(ctx, t, s.URL+"/agents", "#agent-b1")
	evaluate(ctx, t, "window.notReloaded = true", nil)
	b1 := `{"agent":{"name":"b1","labels":{"pool":"builders"},"version":"test","concurrency":2},"running":[]}`
	postJSON(t, s, "/v1/agent/heartbeat", created.Token, b1, nil)
	waitText(ctx, t, "#agent-b1 .chip", "pool=builders", 10*time.Second)
	waitText(ctx, t, "#agent-b1 .status", "online", time.Second)
	waitMatch(ctx, t, "#agent-b1 td.seen", regexp.MustCompile(`^[0-3]s ago$`), time.Second)
	row := waitText(ctx, t, "#agent-b1", "test", time.Second)
	if !strings.Contains(row, "127.0.0.1") || !strings.Contains(row, "2") {
		t.Errorf("b1's row: %q", row)
	}
	// The page counts the silence on by itself.
	waitMatch(ctx, t, "#agent-b1 td.seen", regexp.MustCompile(`^[3-6]s ago$`), 6*time.Second)
	if evaluate(ctx, t, "window.notReloaded === true", &notReloaded); !notReloaded {
		t.Fatal("the Agents page was reloaded")
	}
	screenshot(ctx, t, "agents.png")
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	screenshot(ctx, t, "agents-phone.png")
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// b1 leases the waiting run: the run's open page names it.
	navigate(ctx, t, s.URL+"/runs/"+waiting, "#run-agent")
	evaluate(ctx, t, "window.notReloaded = true", nil)
	var leased struct {
		RunID string `json:"run_id"`
	}
	postJSON(t, s, "/v1/agent/lease", created.Token, b1, &leased)
	if leased.RunID != waiting {
		t.Fatalf("b1 leased %+v, not %s", leased, waiting)
	}
	// It reports the run as its own, and then falls silent.
	postJSON(t, s, "/v1/agent/heartbeat", created.Token, strings.Replace(b1, `"running":[]`, `"running":["`+waiting+`"]`, 1), nil)
	silent := time.Now()
	waitText(ctx, t, "#run-agent", "b1", 10*time.Second)
	waitText(ctx, t, "#run-status", "running", time.Second) // its agent said it runs it
	var reasonHidden bool
	evaluate(ctx, t, `document.getElementById("run-reason").hidden && document.getElementById("run-reason-label").hidden`, &reasonHidden)
	if evaluate(ctx, t, "window.notReloaded === true", &notReloaded); !reasonHidden || !notReloaded {
		t.Fatalf("after the lease: reason hidden %v, page not reloaded %v", reasonHidden, notReloaded)
	}
	navigate(ctx, t, s.URL+"/", "#runs")
	waitText(ctx, t, "#run-"+waiting+" td.agent", "b1", time.Second)

	// Silent for the lease timeout, b1 is offline on the open page, which
	// links the run it had until then.
	navigate(ctx, t, s.URL+"/agents", "#agent-b1")
	evaluate(ctx, t, "window.notReloaded = true", nil)
	waitText(ctx, t, "#agent-b1 .running", waiting, time.Second)
	waitText(ctx, t, "#agent-b1 .status", "online", time.Second)
	waitText(ctx, t, "#agent-b1 .status", "offline", time.Until(silent.Add(lease+10*time.Second)))
	if since := time.Since(silent); since < lease-time.Second {
		t.Errorf("b1 offline after %s of silence", since)
	}
	waitText(ctx, t, "#agent-local .status", "online", time.Second)
	if evaluate(ctx, t, "window.notReloaded === true", &notReloaded); !notReloaded {
		t.Fatal("the Agents page was reloaded")
	}
	screenshot(ctx, t, "agents-offline.png")
	// And the server failed b1's run.
	waitStatus(t, s, waiting, api.StatusFailed, 15*time.Second)
	navigate(ctx, t, s.URL+"/runs/"+waiting, "#facts")
	waitText(ctx, t, "#run-reason", "agent b1 lost (no heartbeat for "+lease.String()+")", 10*time.Second)
	waitText(ctx, t, "#run-agent", "b1", time.Second)
}
