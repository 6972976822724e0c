package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// keptArtifacts records what a runner hands over, as the server would
// store it: chunks by hash, artifacts by name.
type keptArtifacts struct {
	mu        sync.Mutex
	chunks    map[string][]byte
	artifacts map[string]api.NewArtifact
}

func (k *keptArtifacts) PutArtifactChunk(_ context.Context, hash string, data []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.chunks[hash] = bytes.Clone(data)
	return nil
}

func (k *keptArtifacts) AddArtifact(_ context.Context, a api.NewArtifact) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.artifacts[a.Name] = a
	return nil
}

// content joins an artifact's chunks.
func (k *keptArtifacts) content(name string) []byte {
	var b []byte
	for _, h := range k.artifacts[name].Chunks {
		b = append(b, k.chunks[h]...)
	}
	return b
}

// The attack first: a phase plants links to /etc/passwd where artifacts:
// looks (the artifact itself, a file beneath a kept directory, a directory
// on the way), then fails. The runner, root, keeps what the phase wrote,
// byte for byte and in chunks, refuses every link, and never reads
// /etc/passwd.
func TestArtifactsRefuseLinksOutOfTheWorkspace(t *testing.T) {
	h := newHarness(t)
	project := h.projectFile("artifacts", `artifacts: [coverage/, "log/*.xml", evil.txt, "etc/passwd", missing/]
phases:
  build:
    - mkdir -p coverage/deep log
    - echo '<html>report</html>' > coverage/index.html
    - head -c 20000000 /dev/urandom > coverage/deep/big.bin
    - echo '<a/>' > log/a.xml && echo '<b/>' > log/b.xml && echo no > log/c.txt
    - ln -s /etc/passwd evil.txt && ln -s /etc/passwd coverage/passwd && ln -s /etc/passwd log/x.xml && ln -s /etc etc
    - exit 3
`)
	dir := writeProject(t, map[string]string{"jetway.yaml": project})
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	kept := &keptArtifacts{chunks: map[string][]byte{}, artifacts: map[string]api.NewArtifact{}}
	rec := &recorder{}
	s := Run(context.Background(), Options{SourceDir: dir, Project: p, RunID: "artifacts", Sink: rec, Artifacts: kept,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		}})
	text := rec.text()
	if s.Status != string(Failed) || !strings.Contains(s.Error, "phase build") {
		t.Fatalf("the run should fail in build: %+v\n%s", s, text)
	}
	var names []string
	for name := range kept.artifacts {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"coverage/deep/big.bin", "coverage/index.html", "log/a.xml", "log/b.xml"}; !slices.Equal(names, want) {
		t.Fatalf("kept %q, want %q\n%s", names, want, text)
	}
	passwd, _ := os.ReadFile("/etc/passwd")
	for hash, data := range kept.chunks {
		if bytes.Equal(data, passwd) || len(data) > api.ArtifactChunkSize {
			t.Fatalf("chunk %s: %d bytes, /etc/passwd or over the chunk size", hash, len(data))
		}
	}
	for _, refused := range []string{"evil.txt is a symbolic link", "coverage/passwd is a symbolic link", "log/x.xml is a symbolic link", "etc is a symbolic link", "missing/ matched nothing"} {
		if !strings.Contains(text, refused) {
			t.Errorf("no %q in the log:\n%s", refused, text)
		}
	}
	if got := string(kept.content("coverage/index.html")); got != "<html>report</html>\n" {
		t.Fatalf("index.html: %q", got)
	}
	big := kept.artifacts["coverage/deep/big.bin"]
	content := kept.content(big.Name)
	sum := sha256.Sum256(content)
	if big.Size != 20000000 || len(content) != 20000000 || hex.EncodeToString(sum[:]) != big.SHA256 || len(big.Chunks) != 2 {
		t.Fatalf("big.bin: %d bytes in %d chunks, sha256 %s (content %d bytes)", big.Size, len(big.Chunks), big.SHA256, len(content))
	}
	if phases := s.Phases; len(phases) == 0 || phases[len(phases)-1].Name != "artifacts" || phases[len(phases)-1].Status != "succeeded" {
		t.Fatalf("phases %+v", phases)
	}
}

// refusingArtifacts takes chunks until it has n, then refuses every
// upload for good, as a server past the run's limit does.
type refusingArtifacts struct {
	keptArtifacts
	n int
}

func (r *refusingArtifacts) PutArtifactChunk(ctx context.Context, hash string, data []byte) error {
	r.mu.Lock()
	full := len(r.chunks) >= r.n
	r.mu.Unlock()
	if full {
		return &runproto.ArtifactRefusedError{Status: http.StatusRequestEntityTooLarge, Message: "a run uploads at most 2 chunks"}
	}
	return r.keptArtifacts.PutArtifactChunk(ctx, hash, data)
}

// Once the server refuses uploads for good, the runner keeps no more
// files and says so: no "kept" line for a file the server does not hold.
func TestArtifactsRefusedByTheServerAreNotReportedKept(t *testing.T) {
	h := newHarness(t)
	project := h.projectFile("refused", `artifacts: [out/]
phases:
  build:
    - mkdir out && for f in a b c d; do echo $f > out/$f; done
`)
	dir := writeProject(t, map[string]string{"jetway.yaml": project})
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	server := &refusingArtifacts{keptArtifacts: keptArtifacts{chunks: map[string][]byte{}, artifacts: map[string]api.NewArtifact{}}, n: 2}
	rec := &recorder{}
	s := Run(context.Background(), Options{SourceDir: dir, Project: p, RunID: "refused", Sink: rec, Artifacts: server,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		}})
	text := rec.text()
	if s.Status != string(Succeeded) {
		t.Fatalf("a refused upload failed the run: %+v\n%s", s, text)
	}
	if len(server.artifacts) != 2 || !strings.Contains(text, "kept out/a") || !strings.Contains(text, "kept out/b") {
		t.Fatalf("kept %v\n%s", server.artifacts, text)
	}
	for _, name := range []string{"out/c", "out/d"} {
		if strings.Contains(text, "kept "+name) {
			t.Errorf("the log says %s was kept, which the server refused:\n%s", name, text)
		}
	}
	if !strings.Contains(text, "2 files, 4 B, kept on the server; the server refused the other 2") {
		t.Errorf("the log does not say what the server refused:\n%s", text)
	}
}

// Variables given for the run (-e) reach the phases, override the file's,
// and a plain value whose name looks secret is masked.
func TestRunVarsReachPhasesMasked(t *testing.T) {
	h := newHarness(t)
	project := h.projectFile("runvars", "phases:\n  build: ['echo \"key=$MY_API_KEY color=$COLOR user=$DOCKER_USER\"']\n")
	p, err := config.ParseWithVars(config.FileName, []byte(project), map[string]string{"MY_API_KEY": "plain-secret-123", "COLOR": "blue"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := Run(context.Background(), Options{SourceDir: writeProject(t, map[string]string{"jetway.yaml": project}), Project: p, RunID: "runvars", Sink: rec,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
			return h.client.Resolve(ctx, "", refs)
		}})
	text := rec.text()
	if s.Status != string(Succeeded) || !strings.Contains(text, "key=[MASKED] color=blue user="+h.bed.RegistryUser) || strings.Contains(text, "plain-secret-123") {
		t.Fatalf("%+v\n%s", s, text)
	}
}
