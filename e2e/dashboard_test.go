package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium (Debian's) for a test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium is not installed")
	}
	// Not t.TempDir: Chromium's helper processes may still write into its
	// profile for a moment after the browser is gone.
	profile, err := os.MkdirTemp("", "jetway-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// A page left for another stays alive in the back/forward cache
		// with its event streams open; a few of them fill the browser's six
		// connections to the server, and the next page waits for one to end.
		chromedp.Flag("disable-features", "site-per-process,Translate,BlinkGenPropertyTrees,BackForwardCache"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// Accept the Stop button's confirmation.
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
	if err = chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// waitText polls the text of sel until it contains want.
func waitText(ctx context.Context, t *testing.T, sel, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var text string
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := chromedp.Run(c, chromedp.Text(sel, &text, chromedp.ByQuery))
		cancel()
		if err == nil && strings.Contains(text, want) {
			return text
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never showed %q; last text: %q", sel, want, text)
	return ""
}

func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDashboardInABrowser(t *testing.T) {
	b := bed.Get(t)
	ctx := browser(t)
	s := startServer(t, t.TempDir(), freePort(t), 2)
	const secret = "dashboard-secret-4711"
	s.putParam(t, "/dash/SECRET_X", "SecureString", secret)
	navigate(ctx, t, s.URL+"/", "#token") // the runs list asks to sign in first
	signInBrowser(ctx, t, s)

	// A run appears and finishes live on the list.
	dir := localProject(t, b, "dashboard", `echo "the secret is $SECRET_X"; printf '\033[32mgreen\033[0m\n'; sleep 2; echo done`,
		"")
	yaml, _ := os.ReadFile(filepath.Join(dir, "jetway.yaml"))
	withSecret := strings.Replace(string(yaml), "  vars:\n", "  vars:\n    SECRET_X: SSM:/dash/SECRET_X\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "jetway.yaml"), []byte(withSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := s.jetway(t, context.Background(), dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: %s", errOut)
	}
	id := strings.TrimSpace(out)
	waitText(ctx, t, "#run-"+id, "dashboard", 30*time.Second)
	waitText(ctx, t, "#run-"+id+" .status", "succeeded", 60*time.Second)
	waitText(ctx, t, "#run-"+id+" td.agent", "local", time.Second) // the server's own agent ran it
	screenshot(ctx, t, "runs.png")

	// The run page: the log, masked, with colours and line links.
	if err := chromedp.Run(ctx, chromedp.Click(`a[href="/runs/`+id+`"]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	logText := waitText(ctx, t, "#log", "done", 30*time.Second)
	if !strings.Contains(logText, "the secret is [MASKED]") || strings.Contains(logText, secret) {
		t.Fatalf("the log in the DOM:\n%s", logText)
	}
	var html string
	if err := chromedp.Run(ctx, chromedp.OuterHTML("html", &html, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, secret) || !strings.Contains(html, `class="ansi-32">green`) || !strings.Contains(html, `href="#L1"`) {
		t.Fatalf("run page DOM lacks colours or line links, or holds the secret")
	}
	waitText(ctx, t, ".timeline", "build", 10*time.Second)
	waitText(ctx, t, "#run-agent", "local", time.Second)
	screenshot(ctx, t, "run.png")

	// The Docker hosts page shows what the runner reported.
	navigate(ctx, t, s.URL+"/hosts", "#hosts")
	hosts := waitText(ctx, t, "#hosts", b.LocalSocket, 10*time.Second)
	if !strings.Contains(hosts, "reachable") || !strings.Contains(hosts, "linux/") {
		t.Fatalf("hosts page: %s", hosts)
	}
	// And a phone can read the runs list.
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	navigate(ctx, t, s.URL+"/", "#runs")
	screenshot(ctx, t, "runs-phone.png")
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// A running run's log follows until it ends.
	slow := localProject(t, b, "dashboard-follow", "echo started; sleep 3; echo finished", "")
	_, out, _ = s.jetway(t, context.Background(), slow, "deploy", "--detach")
	follow := strings.TrimSpace(out)
	navigate(ctx, t, s.URL+"/runs/"+follow, "#log")
	waitText(ctx, t, "#log", "started", 30*time.Second)
	waitText(ctx, t, "#log", "finished", 30*time.Second)
	waitText(ctx, t, "#run-status", "succeeded", 30*time.Second)
	// The page reloads itself 300 ms after its run ends; let it, before
	// the next navigation.
	time.Sleep(time.Second)

	// Stop a running run from its page.
	long := localProject(t, b, "dashboard-stop", "echo started; sleep 300", "")
	_, out, _ = s.jetway(t, context.Background(), long, "deploy", "--detach")
	stopID := strings.TrimSpace(out)
	navigate(ctx, t, s.URL+"/runs/"+stopID, "#log")
	waitText(ctx, t, "#log", "started", 30*time.Second)
	if err := chromedp.Run(ctx, chromedp.Click("#stop", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	waitText(ctx, t, "#run-status", "cancelled", 60*time.Second)
	if r := s.run(t, stopID); r.Status != "cancelled" {
		t.Fatalf("stopped from the page: %+v", r)
	}
	fmt.Println("screenshots in e2e/artifacts")
}
