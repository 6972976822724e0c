package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/agent"
	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/executor"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// The "Runs and logs" findings of the hardening issue: a huge log line,
// the event upload, broken blobs.

// storedLog reads a run's stored log as text.
func (s *serverProc) storedLog(t *testing.T, id string) string {
	t.Helper()
	resp, err := s.client(t).Stream(context.Background(), http.MethodGet, "/v1/runs/"+id+"/logs", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestHugeLogLine: a phase prints a 70 MB line and then "after". The run
// succeeds with its summary, the line is stored in pieces of at most
// 64 KiB marked as continued that join up to the whole line, and "after"
// follows it.
func TestHugeLogLine(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	const size = 70 << 20
	dir := localProject(t, b, "huge-line", fmt.Sprintf("head -c %d /dev/zero | tr -c x x; echo; echo after", size), "")
	code, out, errOut := s.jetway(t, context.Background(), dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.TrimSpace(out)
	r := s.waitFinished(t, []string{id}, 5*time.Minute)[0]
	if r.Status != api.StatusSucceeded || r.Summary == nil {
		t.Fatalf("the run: %+v\nserver log:\n%s", r, s.log.String())
	}
	log := s.storedLog(t, id)
	var line strings.Builder
	pieces, longest, found := 0, 0, false
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "xxxx") {
			continue
		}
		for ; i < len(lines); i++ {
			piece, more := strings.CutSuffix(lines[i], api.ContinuedMark)
			pieces++
			longest = max(longest, len(piece))
			line.WriteString(piece)
			if !more {
				break
			}
		}
		found = i+1 < len(lines) && lines[i+1] == "after"
		break
	}
	if line.Len() != size || strings.Trim(line.String(), "x") != "" {
		t.Errorf("the long line joins up to %d bytes, want %d x", line.Len(), size)
	}
	if longest > 64<<10 || pieces < size/(64<<10) {
		t.Errorf("%d pieces of at most %d bytes", pieces, longest)
	}
	if !found {
		t.Errorf("\"after\" does not follow the long line")
	}
	if !strings.Contains(log, "run "+id+" succeeded") {
		t.Errorf("the log has no summary: ...%s", log[max(0, len(log)-500):])
	}
}

// fakeRunner is a runner executable that only writes down its environment
// (the run token) and waits: the test speaks the runner's protocol itself.
func fakeRunner(t *testing.T) (binary, envFile string) {
	t.Helper()
	dir := t.TempDir()
	envFile = filepath.Join(dir, "env")
	binary = filepath.Join(dir, "runner")
	script := fmt.Sprintf("#!/bin/sh\nenv > %s.tmp && mv %s.tmp %s\nexec sleep 120\n", envFile, envFile, envFile)
	if err := os.WriteFile(binary, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binary, envFile
}

// TestServerStoresEventsOnce speaks the events protocol to the real server
// with a run token: a resent batch is stored once, a batch past a gap is
// refused with 409 and the number to resend after, and the summary ends
// the run however often it comes.
func TestServerStoresEventsOnce(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	bin, envFile := fakeRunner(t)
	url, token := servertest.Start(t, server.Options{DataDir: dataDir},
		servertest.WithAgent(agent.LocalLauncher(&executor.Local{Binary: bin, LogDir: t.TempDir(), Grace: time.Second}), 2))
	api1 := func(method, path string, body, out any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			data, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, data)
		}
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
	}
	var b struct{ ID string }
	api1(http.MethodPost, "/v1/bundles", api.Manifest{Files: []api.File{}}, &b)
	var run api.Run
	api1(http.MethodPost, "/v1/runs", api.NewRunRequest{ProjectFile: "project: events-once\nphases:\n  build: [\"true\"]\n", Bundle: b.ID}, &run)

	var runToken string
	deadline := time.Now().Add(30 * time.Second)
	for runToken == "" {
		data, _ := os.ReadFile(envFile)
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "JETWAY_RUN_TOKEN="); ok {
				runToken = v
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the runner was not started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	post := func(events []api.Event) (int, runproto.EventsAck) {
		t.Helper()
		body, _ := json.Marshal(events)
		req, _ := http.NewRequest(http.MethodPost, url+runproto.EventsPath(run.ID), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+runToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ack runproto.EventsAck
		if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
			t.Fatalf("answer: %v", err)
		}
		return resp.StatusCode, ack
	}
	lines := func(first int64, msgs ...string) []api.Event {
		var out []api.Event
		for i, m := range msgs {
			out = append(out, api.Event{Seq: first + int64(i), Type: "log", Time: time.Now(), Message: m})
		}
		return out
	}
	summary := api.Event{Seq: 6, Type: "summary", Summary: &api.Summary{RunID: run.ID, Status: api.StatusSucceeded}}
	steps := []struct {
		name       string
		batch      []api.Event
		wantStatus int
		wantAcked  int64
	}{
		{"a batch", lines(1, "one", "two"), http.StatusOK, 2},
		{"the same batch again", lines(1, "one", "two"), http.StatusOK, 2},
		{"overlapping", lines(2, "two", "three"), http.StatusOK, 3},
		{"past a gap", lines(5, "five"), http.StatusConflict, 3},
		{"the gap filled", lines(4, "four", "five"), http.StatusOK, 5},
		{"the summary", []api.Event{summary}, http.StatusOK, 6},
		{"the summary again", []api.Event{summary}, http.StatusOK, 6},
	}
	for _, st := range steps {
		status, ack := post(st.batch)
		if status != st.wantStatus || ack.Acked != st.wantAcked {
			t.Fatalf("%s: %d %+v, want %d with acked %d", st.name, status, ack, st.wantStatus, st.wantAcked)
		}
	}
	var got api.Run
	api1(http.MethodGet, "/v1/runs/"+run.ID, nil, &got)
	if got.Status != api.StatusSucceeded || got.Summary == nil {
		t.Fatalf("the run after its summary: %+v", got)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/runs/"+run.ID+"/logs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	log := string(data)
	if !strings.HasPrefix(log, "one\ntwo\nthree\nfour\nfive\n") || strings.Count(log, "== summary ==") != 1 {
		t.Fatalf("stored log:\n%s", log)
	}
}

// TestBlobUploadBomb: a 50 KB upload that inflates to 256 MiB, declared as
// 1000 bytes, is refused by the real server as soon as it passes them.
func TestBlobUploadBomb(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	srvURL, token := servertest.Start(t, server.Options{DataDir: dataDir})
	var bomb bytes.Buffer
	enc, _ := zstd.NewWriter(&bomb, zstd.WithEncoderLevel(zstd.SpeedFastest))
	zero := make([]byte, 1<<20)
	for range 256 {
		_, _ = enc.Write(zero)
	}
	enc.Close()
	hash := strings.Repeat("ab", 32)
	req, _ := http.NewRequest(http.MethodPut, srvURL+"/v1/blobs/"+hash+"?"+url.Values{"size": {"1000"}}.Encode(), bytes.NewReader(bomb.Bytes()))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), "more than its declared 1000 bytes") {
		t.Fatalf("PUT of a bomb: %s %s", resp.Status, data)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dataDir, "blobs", "*", ".upload-*")); len(leftovers) > 0 {
		t.Errorf("the refused upload left %v", leftovers)
	}
}

// TestBrokenBlobsFailTheRun: a blob altered in the server's blob dir, and
// then one deleted from it, each fail the run that needs it with a reason
// that names the file, instead of running on a partial workspace.
func TestBrokenBlobsFailTheRun(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	ctx := context.Background()
	dir := localProject(t, b, "broken-blobs", "echo phase-ran", "")
	writeFiles(t, dir, map[string]string{"src/app.rb": "puts 'hi'\n", "lib/util.rb": "def util; end\n"})
	m, _, err := bundle.Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	blobOf := func(p string) string {
		for _, f := range m.Files {
			if f.Path == p {
				return filepath.Join(s.DataDir, "blobs", f.SHA256[:2], f.SHA256)
			}
		}
		t.Fatalf("no %s in the bundle", p)
		return ""
	}
	slow := localProject(t, b, "hold-the-slot", "echo started; sleep 300", "")
	// deploy queues a run of dir while a slow run holds the only slot,
	// spoils the blobs after the upload and before the runner reads them,
	// and lets the run go.
	deploy := func(spoil func()) api.Run {
		t.Helper()
		code, out, errOut := s.jetway(t, ctx, slow, "deploy", "--detach")
		if code != 0 {
			t.Fatalf("deploy of the slow run: %s", errOut)
		}
		slowID := strings.TrimSpace(out)
		waitLog(t, s, slowID, "started")
		code, out, errOut = s.jetway(t, ctx, dir, "deploy", "--detach")
		if code != 0 {
			t.Fatalf("deploy: %s", errOut)
		}
		id := strings.TrimSpace(out)
		spoil()
		if code, _, errOut := s.jetway(t, ctx, slow, "stop", slowID); code != 0 {
			t.Fatalf("stop: %s", errOut)
		}
		s.waitFinished(t, []string{slowID}, time.Minute)
		return s.waitFinished(t, []string{id}, 2*time.Minute)[0]
	}

	r := deploy(func() {
		// The same size, other content: only the hash tells.
		if err := os.WriteFile(blobOf("lib/util.rb"), []byte("def evil; end\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	checkFailed(t, s, r, "bundle: lib/util.rb: content does not match its hash")

	// Without the altered blob the next deploy uploads it again.
	if err := os.Remove(blobOf("lib/util.rb")); err != nil {
		t.Fatal(err)
	}
	r = deploy(func() {
		if err := os.Remove(blobOf("src/app.rb")); err != nil {
			t.Fatal(err)
		}
	})
	checkFailed(t, s, r, fmt.Sprintf("bundle: src/app.rb: blob %s… is missing on the server", filepath.Base(blobOf("src/app.rb"))[:12]))
}

func checkFailed(t *testing.T, s *serverProc, r api.Run, want string) {
	t.Helper()
	if r.Status != api.StatusFailed || r.Summary == nil || r.Summary.Error != want {
		t.Errorf("run %s: status %s, summary %+v; want failed with %q", r.ID, r.Status, r.Summary, want)
	}
	log := s.storedLog(t, r.ID)
	if !strings.Contains(log, "error: "+want) || strings.Contains(log, "phase-ran") {
		t.Errorf("run %s's log:\n%s", r.ID, log)
	}
}

// TestRunLogInOrderThroughAPause: a run prints numbered lines while the
// server is paused for a while (SIGSTOP); every line is stored once, in
// order, and the run ends with its summary.
func TestRunLogInOrderThroughAPause(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	const n = 3000
	dir := localProject(t, b, "in-order", fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line $i; if [ $((i %% 50)) -eq 0 ]; then sleep 0.1; fi; i=$((i+1)); done", n), "")
	code, out, errOut := s.jetway(t, context.Background(), dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: %s", errOut)
	}
	id := strings.TrimSpace(out)
	waitLog(t, s, id, "line 100\n")
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if r := s.waitFinished(t, []string{id}, 2*time.Minute)[0]; r.Status != api.StatusSucceeded {
		t.Fatalf("the run: %+v", r)
	}
	next := 1
	for _, l := range strings.Split(s.storedLog(t, id), "\n") {
		var i int
		if _, err := fmt.Sscanf(l, "line %d", &i); err != nil {
			continue
		}
		if i != next {
			t.Fatalf("line %d stored where line %d belongs", i, next)
		}
		next++
	}
	if next != n+1 {
		t.Fatalf("%d of %d lines stored", next-1, n)
	}
}
