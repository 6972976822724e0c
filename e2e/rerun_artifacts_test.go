package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var queuedRE = regexp.MustCompile(`run ([0-9a-f]{8}) queued`)

// Issue 16: deploy -e overrides a jetway.yaml value for one run only; a
// rerun of an older run rebuilds that run's sources, not the latest; its
// artifacts round-trip byte for byte, and a link to /etc/passwd among them
// is refused; the dashboard's Rerun button and artifact links work.
func TestRerunAndArtifacts(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 2)
	s.putParam(t, "/e2e/MSG", "SecureString", "hello-from-ssm-7781")
	dir := t.TempDir()
	data := make([]byte, 3<<20)
	_, _ = rand.Read(data)
	writeFiles(t, dir, map[string]string{
		"data.bin": string(data),
		"src.txt":  "version one\n",
		"jetway.yaml": fmt.Sprintf(`project: rerun-artifacts
env:
  vars:
    DOCKER_HOST: unix://%s
    COLOR: blue
artifacts: [out/, "log/*.xml", evil.txt]
phases:
  build:
    - mkdir -p out log && cp src.txt data.bin out/ && echo '<t/>' > log/t.xml && echo no > log/t.txt
    - ln -s /etc/passwd evil.txt && ln -s /etc/passwd out/passwd
    - echo "color=$COLOR key=${APP_KEY:-none} msg=${MSG:-none}"
`, b.LocalSocket),
	})
	ctx := context.Background()
	deploy := func(args ...string) (id, out string) {
		t.Helper()
		code, out, errOut := s.jetway(t, ctx, dir, append([]string{"deploy"}, args...)...)
		m := queuedRE.FindStringSubmatch(errOut)
		if code != 0 || m == nil {
			t.Fatalf("deploy %q: exit %d\n%s\n%s\nserver:\n%s", args, code, out, errOut, s.log.String())
		}
		return m[1], out
	}
	jetway := func(args ...string) string {
		t.Helper()
		code, out, errOut := s.jetway(t, ctx, dir, args...)
		if code != 0 {
			t.Fatalf("jetway %q: exit %d\n%s\n%s", args, code, out, errOut)
		}
		return out
	}

	// -e overrides COLOR and adds a masked plain value and a reference.
	first, out := deploy("-e", "COLOR=red", "-e", "APP_KEY=plain-key-5521", "-e", "MSG=SSM:/e2e/MSG")
	if !strings.Contains(out, "color=red key=[MASKED] msg=[MASKED]") || strings.Contains(out, "plain-key-5521") || strings.Contains(out, "hello-from-ssm") {
		t.Fatalf("first run's log:\n%s", out)
	}
	if !strings.Contains(out, "evil.txt is a symbolic link") || !strings.Contains(out, "out/passwd is a symbolic link") {
		t.Fatalf("the links were not refused in the log:\n%s", out)
	}
	show := jetway("runs", "show", first)
	for _, want := range []string{"COLOR=red", "APP_KEY=[MASKED]", "MSG=SSM:/e2e/MSG", "out/data.bin", "out/src.txt", "log/t.xml", "artifacts: 3 files"} {
		if !strings.Contains(show, want) {
			t.Errorf("runs show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, "plain-key-5521") || strings.Contains(show, "evil.txt") || strings.Contains(show, "passwd") {
		t.Errorf("runs show holds what it must not:\n%s", show)
	}
	// Artifacts round-trip byte for byte.
	got := filepath.Join(t.TempDir(), "got")
	jetway("runs", "artifacts", first, "-o", got)
	if b, _ := os.ReadFile(filepath.Join(got, "out", "data.bin")); !bytes.Equal(b, data) {
		t.Fatalf("out/data.bin came back as %d bytes, not the %d sent", len(b), len(data))
	}
	passwd, _ := os.ReadFile("/etc/passwd")
	filepath.WalkDir(got, func(p string, d os.DirEntry, err error) error {
		if b, _ := os.ReadFile(p); err == nil && !d.IsDir() && bytes.Equal(b, passwd) {
			t.Errorf("%s holds /etc/passwd", p)
		}
		return nil
	})

	// The next deploy has the file's COLOR again, and new sources.
	writeFiles(t, dir, map[string]string{"src.txt": "version two\n"})
	second, out := deploy()
	if !strings.Contains(out, "color=blue key=none msg=none") {
		t.Fatalf("-e outlived its run:\n%s", out)
	}

	// A rerun of the first run builds the first run's sources, with its
	// variables and the rerun's on top.
	code, out, errOut := s.jetway(t, ctx, dir, "rerun", first, "-e", "COLOR=green")
	if code != 0 || !strings.Contains(out, "color=green key=[MASKED] msg=[MASKED]") {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	rerun := queuedRE.FindStringSubmatch(errOut)[1]
	show = jetway("runs", "show", rerun)
	if !strings.Contains(show, "rerun of") || !strings.Contains(show, first) || !strings.Contains(show, "COLOR=green") {
		t.Fatalf("rerun's runs show:\n%s", show)
	}
	got = filepath.Join(t.TempDir(), "rerun")
	jetway("runs", "artifacts", rerun, "-o", got)
	if b, _ := os.ReadFile(filepath.Join(got, "out", "src.txt")); string(b) != "version one\n" {
		t.Fatalf("the rerun of %s built %q, not that run's source", first, b)
	}

	// The dashboard: Rerun on the second run's page, then its artifacts.
	bctx := browser(t)
	signInBrowser(bctx, t, s)
	navigate(bctx, t, s.URL+"/runs/"+second, "#rerun")
	if err := chromedp.Run(bctx, chromedp.Click("#rerun", chromedp.ByID), chromedp.WaitVisible("#rerun-of", chromedp.ByID)); err != nil {
		t.Fatalf("Rerun button: %v", err)
	}
	waitText(bctx, t, "#rerun-of", second, 10*time.Second)
	waitText(bctx, t, "#run-status", "succeeded", 30*time.Second)
	waitText(bctx, t, "#artifacts", "out/src.txt", 10*time.Second)
	var text string
	err := chromedp.Run(bctx, chromedp.Evaluate(`fetch(document.querySelector('#artifacts a[href$="out/src.txt"]').href).then(r => r.text())`, &text,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil || text != "version two\n" {
		t.Fatalf("the dashboard's download link gave %q, %v", text, err)
	}
}
