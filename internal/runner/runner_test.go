package runner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/mask"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/sandbox"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
	"github.com/jetway-dev/jetway/internal/testbed"
)

var bed testbed.Shared

func TestMain(m *testing.M) {
	// Runs made by these tests start this binary as their sandbox init.
	sandbox.RunInitIfAsked()
	code := m.Run()
	bed.Close()
	os.Exit(code)
}

// harness is a test bed plus a real jetway server holding the bed's
// secrets as SecureString parameters.
type harness struct {
	bed     *testbed.Bed
	client  *apiclient.Client
	url     string // the server's
	dataDir string
	secrets map[string]string // parameter name → value
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	b := bed.Get(t)
	dataDir := filepath.Join(t.TempDir(), "server")
	url, token := servertest.Start(t, server.Options{DataDir: dataDir})
	h := &harness{bed: b, client: apiclient.New(url, token), url: url, dataDir: dataDir, secrets: map[string]string{}}
	key, _ := os.ReadFile(b.ClientKey)
	known, _ := os.ReadFile(b.KnownHosts)
	h.put(t, "/dev/JETS_SSH_KEY", string(key))
	h.put(t, "/dev/JETS_SSH_KNOWN", string(known))
	h.put(t, "/dev/DOCKER_PASS", b.RegistryPass)
	return h
}

func (h *harness) put(t *testing.T, name, value string) {
	t.Helper()
	err := h.client.Do(context.Background(), http.MethodPost, "/v1/params", nil, api.PutParamRequest{Name: name, Type: "SecureString", Value: value, Overwrite: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.secrets[name] = value
}

// projectFile is a jetway.yaml for the bed: the remote host over ssh, the
// registry with htpasswd auth, secrets by reference.
func (h *harness) projectFile(name, extra string) string {
	b := h.bed
	return fmt.Sprintf(`project: %s
ssm_env: dev
env:
  vars:
    DOCKER_HOST: %s
    JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN
    DOCKER_USER: %s
    DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
    DOCKER_REGISTRY: %s
%s`, name, b.DockerHostSSH(), b.RegistryUser, b.Registry, extra)
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// text renders every event's words, as a log would show them.
func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "%s %s %s %s\n", e.Type, e.Phase, e.Status, e.Message)
		if e.Step != nil {
			fmt.Fprintf(&b, "step %d %s cached=%v\n", e.Step.Number, e.Step.Instruction, e.Step.Cached)
		}
		if e.Summary != nil {
			fmt.Fprintf(&b, "summary %s %s\n", e.Summary.Status, e.Summary.Error)
		}
	}
	return b.String()
}

func (h *harness) run(t *testing.T, ctx context.Context, dir string) (*Summary, *recorder) {
	t.Helper()
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := Run(ctx, Options{
		SourceDir: dir,
		Project:   p,
		RunID:     fmt.Sprintf("t%07d", time.Now().UnixNano()%10000000),
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		},
		Sink: rec,
	})
	return s, rec
}

const dockerfile = `ARG BASE
FROM ${BASE}
RUN for i in 1 2 3 4; do head -c 2000000 /dev/urandom | gzip -1 | sha256sum; done > /deps.lock
COPY app.sh /app.sh
CMD ["/bin/sh", "/app.sh"]
`

func TestTwoRunsReuseTheRemoteCache(t *testing.T) {
	h := newHarness(t)
	b := h.bed
	files := map[string]string{
		"Dockerfile": dockerfile,
		"app.sh":     "echo one\n",
		"jetway.yaml": h.projectFile("cache", fmt.Sprintf(`image:
  name: %s/cache
  tags: ["{{.RunID}}", latest]
  build_args: {BASE: %s}
  push: true
phases:
  post_build:
    - docker image ls --format '{{.Repository}}' %s
    - test -s ~/.docker/config.json
`, b.Registry, testbed.BaseImage, b.RemoteMarker)),
	}
	dir := writeProject(t, files)
	ctx := context.Background()
	first, rec := h.run(t, ctx, dir)
	if first.Status != string(Succeeded) {
		t.Fatalf("first run %s: %s\n%s", first.Status, first.Error, rec.text())
	}
	if !strings.Contains(rec.text(), b.RemoteMarker) {
		t.Fatalf("post_build's docker did not reach the remote host:\n%s", rec.text())
	}
	if first.Digest == "" || len(first.Tags) != 2 {
		t.Fatalf("no digest or tags: %+v", first)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte("echo two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, rec := h.run(t, ctx, dir)
	if second.Status != string(Succeeded) {
		t.Fatalf("second run %s: %s\n%s", second.Status, second.Error, rec.text())
	}
	depStep := func(s *Summary) *stepView {
		for _, st := range s.Build.Steps {
			if strings.HasPrefix(st.Instruction, "RUN for i") {
				return &stepView{cached: st.Cached}
			}
		}
		return nil
	}
	if d := depStep(first); d == nil || d.cached {
		t.Fatalf("first run: dependency step %+v, want built", d)
	}
	if d := depStep(second); d == nil || !d.cached {
		t.Fatalf("second run: dependency step %+v, want cached\n%s", d, rec.text())
	}
	for _, st := range second.Build.Steps {
		if strings.HasPrefix(st.Instruction, "COPY") && st.Cached {
			t.Errorf("second run: the COPY of the changed file came from the cache")
		}
	}
	// Nothing changed: the image is the same, and the registry has it.
	third, rec := h.run(t, ctx, dir)
	if third.Status != string(Succeeded) || third.Digest != second.Digest {
		t.Fatalf("third run %s, digest %s (second %s): %s", third.Status, third.Digest, second.Digest, third.Error)
	}
	if !strings.Contains(rec.text(), "cache:latest: skipped, the registry has this image already") || !strings.Contains(rec.text(), "docker push "+b.Registry+"/cache:"+third.RunID+"\n") {
		t.Fatalf("third run should push only its new run tag:\n%s", rec.text())
	}
	// The pushed image is in the registry under the run's tag.
	req, _ := http.NewRequest(http.MethodHead, "http://"+b.Registry+"/v2/cache/manifests/latest", nil)
	req.SetBasicAuth(b.RegistryUser, b.RegistryPass)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != second.Digest {
		t.Fatalf("registry: %v %v digest %s, want %s", err, resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), second.Digest)
	}
}

type stepView struct{ cached bool }

func TestWrongRegistryPasswordFailsAtBootstrap(t *testing.T) {
	h := newHarness(t)
	h.put(t, "/dev/DOCKER_PASS", "not-the-password")
	dir := writeProject(t, map[string]string{"jetway.yaml": h.projectFile("badpass", "phases:\n  build: [\"echo should not run\"]\n")})
	s, rec := h.run(t, context.Background(), dir)
	if s.Status != string(Failed) || s.ExitCode != ExitFailed || !strings.Contains(s.Error, "registry login") || !strings.Contains(s.Error, "DOCKER_PASS") {
		t.Fatalf("summary %+v", s)
	}
	if strings.Contains(rec.text(), "should not run") || len(s.Phases) != 0 {
		t.Fatalf("a phase ran:\n%s", rec.text())
	}
}

func TestWrongKnownHostNeverBuilds(t *testing.T) {
	h := newHarness(t)
	h.put(t, "/dev/JETS_SSH_KNOWN", h.bed.RemoteIP+" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
	dir := writeProject(t, map[string]string{"jetway.yaml": h.projectFile("badhost", "phases:\n  build: [\"echo should not run\"]\n")})
	s, rec := h.run(t, context.Background(), dir)
	if s.ExitCode != ExitUnreachable || !strings.Contains(s.Error, "HOST KEY") || !strings.Contains(s.Error, "SHA256:") || !strings.Contains(s.Error, "ssh-keyscan -H -t") {
		t.Fatalf("summary %+v", s)
	}
	if strings.Contains(rec.text(), "should not run") {
		t.Fatal("a phase ran")
	}
}

func TestMissingParameterFailsBeforeAnyPhase(t *testing.T) {
	h := newHarness(t)
	dir := writeProject(t, map[string]string{"jetway.yaml": h.projectFile("missing", "    EXTRA: SSM:/dev/NOT_THERE\nphases:\n  install: [\"echo should not run\"]\n")})
	s, rec := h.run(t, context.Background(), dir)
	if s.Status != string(Failed) || !strings.Contains(s.Error, "EXTRA: parameter /dev/NOT_THERE not found") {
		t.Fatalf("summary %+v", s)
	}
	if strings.Contains(rec.text(), "should not run") {
		t.Fatal("a phase ran")
	}
}

// TestSecretsAreMaskedEverywhere prints every secret in every form the
// masker knows, and then searches the output and every file the run left.
func TestSecretsAreMaskedEverywhere(t *testing.T) {
	h := newHarness(t)
	h.put(t, "/dev/API_TOKEN", "tok/en+with&odd=chars\"and\\quotes<>")
	start := time.Now()
	var forms strings.Builder
	for _, v := range []string{h.secrets["/dev/API_TOKEN"], h.secrets["/dev/DOCKER_PASS"]} {
		fmt.Fprintf(&forms, "raw %s\nurl %s\npath %s\nb64 %s\nb64url %s\njson %s\n", v, url.QueryEscape(v), url.PathEscape(v),
			base64.StdEncoding.EncodeToString([]byte(v)), base64.URLEncoding.EncodeToString([]byte(v)), mustJSON(v))
	}
	dir := writeProject(t, map[string]string{
		"forms.txt": "", // filled by the phase from the environment, never from the source
		"jetway.yaml": h.projectFile("masking", `    API_TOKEN: SSM:/dev/API_TOKEN
  pass: [FORMS]
phases:
  build:
    - echo "token=$API_TOKEN pass=$DOCKER_PASS"
    - printf %s "$API_TOKEN" | base64
    - echo "$DOCKER_PASS" | base64
    - printf '{"t":"%s"}\n' "$(printf %s "$API_TOKEN" | sed 's/\\/\\\\/g; s/"/\\"/g')"
    - cat ~/.ssh/id_rsa
    - base64 ~/.ssh/id_rsa
    - cat ~/.ssh/known_hosts
    - echo "$JETS_SSH_KEY" | head -3
    - env | grep -E 'DOCKER_PASS|API_TOKEN'
    - cat ~/.docker/config.json
    - echo "printing forms"; printf %s "$FORMS"
`),
	})
	_ = forms
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := Run(context.Background(), Options{
		SourceDir: dir, Project: p, RunID: "mask0001", Sink: rec,
		ClientEnv: []string{"FORMS=" + forms.String()},
		// The key reaches ~/.ssh and the environment only where the
		// operator exposes it; masked there too.
		Docker: api.DockerPolicy{ExposeCredentials: true},
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		},
	})
	out := rec.text()
	if s.Status != string(Succeeded) {
		t.Fatalf("run %s: %s\n%s", s.Status, s.Error, out)
	}
	if !strings.Contains(out, "b64url [MASKED]") || !strings.Contains(out, "json [MASKED]") {
		t.Fatalf("the forms were not printed, or not masked:\n%s", out)
	}
	if strings.Count(out, mask.Replacement) < 10 {
		t.Fatalf("few masks in:\n%s", out)
	}
	var secrets []mask.Secret
	for name, v := range h.secrets {
		secrets = append(secrets, mask.Secret{Name: name, Value: []byte(v)})
	}
	for _, sec := range secrets {
		for _, form := range mask.Forms(sec.Value) {
			if strings.Contains(out, string(form)) {
				t.Errorf("a form of %s survives in the output: %q", sec.Name, form)
			}
		}
	}
	// Nothing of the run is left, and no file it wrote under /tmp holds a
	// secret (the bed, the server's data dir and the test's own dirs are
	// the harness's, not the run's).
	if matches, _ := filepath.Glob(filepath.Join("/var/lib/jetway-runs", "run-mask0001-*")); len(matches) > 0 {
		t.Fatalf("sandbox left: %v", matches)
	}
	harness := []string{h.bed.Dir, h.dataDir, filepath.Dir(dir), filepath.Dir(h.dataDir)}
	scan := func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		for _, skip := range harness {
			if path == skip || strings.HasPrefix(path, skip+"/") {
				return filepath.SkipDir
			}
		}
		// The Go tool's build caches of packages compiling alongside
		// (this test's secrets are constants of its own test binary).
		if strings.HasPrefix(filepath.Base(path), "go-build") {
			return filepath.SkipDir
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().Before(start) || info.Size() > 8<<20 {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, sec := range secrets {
			for _, line := range strings.Split(string(sec.Value), "\n") {
				if len(line) >= 8 && strings.Contains(string(data), line) {
					t.Errorf("%s (written during the run) holds a secret of %s", path, sec.Name)
				}
			}
		}
		return nil
	}
	for _, root := range []string{os.TempDir(), "/var/lib/jetway-runs"} {
		_ = filepath.WalkDir(root, scan)
	}
}

func mustJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestTimeoutKillsThePhase(t *testing.T) {
	h := newHarness(t)
	dir := writeProject(t, map[string]string{"jetway.yaml": h.projectFile("slow", "phases:\n  build: [\"sleep 300 & sleep 300\"]\n  post_build: [\"echo post\"]\ntimeout: 3s\n")})
	start := time.Now()
	s, rec := h.run(t, context.Background(), dir)
	if s.Status != string(TimedOut) || s.ExitCode != ExitTimedOut {
		t.Fatalf("summary %+v\n%s", s, rec.text())
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("took %s", d)
	}
	assertNothingLeft(t, s.RunID, rec)
}

func TestCancelKillsThePhase(t *testing.T) {
	h := newHarness(t)
	dir := writeProject(t, map[string]string{"jetway.yaml": h.projectFile("cancel", "phases:\n  build: [\"echo started; sleep 300\"]\n")})
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	p, _ := config.Load(filepath.Join(dir, config.FileName))
	go func() {
		for !strings.Contains(rec.text(), "started") {
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	s := Run(ctx, Options{SourceDir: dir, Project: p, RunID: "cancel01", Sink: rec,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		}})
	if s.Status != string(Cancelled) || s.ExitCode != ExitCancelled {
		t.Fatalf("summary %+v", s)
	}
	assertNothingLeft(t, "cancel01", rec)
}

// TestSecretDockerHostIsMaskedInTheSummary: a DOCKER_HOST kept as a
// SecureString is a secret, in the summary's host report too.
func TestSecretDockerHostIsMaskedInTheSummary(t *testing.T) {
	h := newHarness(t)
	h.put(t, "/dev/DOCKER_HOST", h.bed.DockerHostSSH())
	yaml := strings.Replace(h.projectFile("secret-host", "phases:\n  build: [\"echo $DOCKER_HOST\"]\n"),
		"DOCKER_HOST: "+h.bed.DockerHostSSH(), "DOCKER_HOST: SSM:/dev/DOCKER_HOST", 1)
	dir := writeProject(t, map[string]string{"jetway.yaml": yaml})
	s, rec := h.run(t, context.Background(), dir)
	if s.Status != string(Succeeded) {
		t.Fatalf("run %s: %s\n%s", s.Status, s.Error, rec.text())
	}
	raw, _ := json.Marshal(s)
	if strings.Contains(string(raw), h.bed.RemoteSocket) || strings.Contains(rec.text(), h.bed.RemoteSocket) {
		t.Fatalf("the secret DOCKER_HOST shows:\n%s\n%s", raw, rec.text())
	}
	if s.DockerHost == nil || !strings.Contains(s.DockerHost.Host, mask.Replacement) {
		t.Fatalf("host report %+v", s.DockerHost)
	}
}
