package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// startServer runs a real server on a loopback port.
func startServer(t *testing.T) (url, token, dataDir string) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	url, token = servertest.Start(t, server.Options{DataDir: dataDir})
	return url, token, dataDir
}

func TestAPINeedsTheToken(t *testing.T) {
	url, token, dataDir := startServer(t)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token} {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/params", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/params", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("with the token: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	resp, err = http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	for _, f := range []string{"token", "master.key", "credentials", "config"} {
		info, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, info.Mode(), err)
		}
	}
	if info, _ := os.Stat(dataDir); info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", info.Mode())
	}
}

func TestCredentialsAreScoped(t *testing.T) {
	url, token, _ := startServer(t)
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, name := range []string{"/dev/A", "/dev/B"} {
		resp := do(http.MethodPost, "/v1/params", `{"name":"`+name+`","type":"SecureString","value":"v"}`)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("put %s: %d", name, resp.StatusCode)
		}
	}
	resp := do(http.MethodPost, "/v1/credentials", `{"parameters":["/dev/A"],"ttl_seconds":60}`)
	var creds api.Credentials
	if err := json.NewDecoder(resp.Body).Decode(&creds); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if creds.AccessKeyID == "" || time.Until(creds.Expiration) > time.Minute+time.Second {
		t.Fatalf("credentials %+v", creds)
	}
	c := ssm.NewFromConfig(aws.Config{Region: creds.Region, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")},
		func(o *ssm.Options) { o.BaseEndpoint = aws.String(url) })
	ctx := context.Background()
	if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/A"), WithDecryption: aws.Bool(true)}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/B"), WithDecryption: aws.Bool(true)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("not allowed: %v", err)
	}
	resp = do(http.MethodPost, "/v1/credentials", `{"parameters":["/dev/A"],"ttl_seconds":99999999}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("overlong ttl: %d", resp.StatusCode)
	}
}

// No 401 answer tells whoever asks where the server keeps its data.
func TestUnauthorizedAnswersNameNoPath(t *testing.T) {
	url, _, dataDir := startServer(t)
	for _, tc := range []struct{ method, path, auth string }{
		{http.MethodGet, "/v1/params", ""},
		{http.MethodGet, "/v1/runs", "Bearer wrong"},
		{http.MethodPost, "/v1/runs", "Bearer wrong"},
		{http.MethodPut, "/v1/blobs/" + strings.Repeat("a", 64), ""},
		{http.MethodPost, "/v1/credentials", "Bearer wrong"},
		{http.MethodGet, "/v1/runs/r1/spec", "Bearer wrong"},
		{http.MethodPost, "/v1/runs/r1/events", ""},
		{http.MethodPost, "/runs/r1/stop", ""},
	} {
		req, _ := http.NewRequest(tc.method, url+tc.path, strings.NewReader("{}"))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s: %d, want 401", tc.method, tc.path, resp.StatusCode)
		}
		for _, leak := range []string{dataDir, filepath.Base(dataDir), "/token"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s %s: the answer names %q: %s", tc.method, tc.path, leak, body)
			}
		}
		if strings.HasPrefix(tc.path, "/v1/") && !strings.HasPrefix(tc.path, "/v1/runs/r1/") {
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error != "missing, wrong or revoked token; see jetway login --help" {
				t.Errorf("%s %s: %s", tc.method, tc.path, body)
			}
		}
	}
}

// A request that announces a body and then sends it slowly, or not at
// all, is dropped within the body timeout; one too large is refused at
// once. Without a token too: the dashboard's sign-in form and the AWS
// APIs read bodies before anyone is known.
func TestSlowOrHugeBodiesAreDropped(t *testing.T) {
	const timeout = time.Second
	dataDir := filepath.Join(t.TempDir(), "data")
	base, token := servertest.Start(t, server.Options{DataDir: dataDir, BodyTimeout: timeout})
	addr := strings.TrimPrefix(base, "http://")
	auth := "Authorization: Bearer " + token + "\r\n"
	for _, tc := range []struct {
		name    string
		head    string        // request line and headers, without the blank line
		trickle time.Duration // send a byte this often; 0: send nothing
		status  string        // the status line, when the server answers before closing
	}{
		{"100 GB to a JSON route", "POST /v1/runs HTTP/1.1\r\n" + auth + "Content-Length: 100000000000", 0, "HTTP/1.1 413"},
		{"100 GB blob", "PUT /v1/blobs/" + strings.Repeat("a", 64) + " HTTP/1.1\r\n" + auth + "Content-Length: 100000000000", 0, "HTTP/1.1 413"},
		{"nothing of 100 kB", "POST /v1/runs HTTP/1.1\r\n" + auth + "Content-Length: 100000", 0, ""},
		{"a trickle of 100 kB", "POST /v1/runs HTTP/1.1\r\n" + auth + "Content-Length: 100000", 200 * time.Millisecond, ""},
		{"a trickle of a blob", "PUT /v1/blobs/" + strings.Repeat("a", 64) + " HTTP/1.1\r\n" + auth + "Content-Length: 1000000000", 200 * time.Millisecond, ""},
		{"nothing of a chunked body", "POST /v1/params HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked", 0, ""},
		{"nothing, signing in", "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000", 0, ""},
		{"nothing, to the AWS APIs", "POST / HTTP/1.1\r\nX-Amz-Target: AmazonSSM.GetParameter\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 1000", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, tc.head+"\r\nHost: "+addr+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			if tc.trickle > 0 {
				go func() {
					tick := time.NewTicker(tc.trickle)
					defer tick.Stop()
					for {
						select {
						case <-done:
							return
						case <-tick.C:
							if _, err := conn.Write([]byte("x")); err != nil {
								return
							}
						}
					}
				}()
			}
			// The server must close the connection well before this.
			_ = conn.SetReadDeadline(time.Now().Add(timeout + 5*time.Second))
			answer, err := io.ReadAll(conn)
			close(done)
			elapsed := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server still held the connection after %s; it answered %q", elapsed.Round(time.Millisecond), answer)
			}
			if elapsed > timeout+time.Second {
				t.Errorf("dropped after %s, want about %s", elapsed.Round(time.Millisecond), timeout)
			}
			if !strings.HasPrefix(string(answer), tc.status) {
				t.Errorf("answer %q, want %q…", answer, tc.status)
			}
		})
	}
}

// The body timeout leaves alone what is slow by nature: a log stream that
// follows a run for longer, and an upload that keeps coming.
func TestBodyTimeoutSparesStreamsAndSteadyUploads(t *testing.T) {
	const timeout = time.Second
	base, token := servertest.Start(t, server.Options{DataDir: filepath.Join(t.TempDir(), "data"), BodyTimeout: timeout})
	c := apiclient.New(base, token)
	ctx := context.Background()

	// An upload of 96 kB (random, so compressed as large) at 48 kB/s:
	// twice the timeout, and above the slowest pace taken.
	content := make([]byte, 96<<10)
	_, _ = rand.Read(content)
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	compressed := enc.EncodeAll(content, nil)
	pr, pw := io.Pipe()
	go func() {
		step := len(compressed)/40 + 1
		for i := 0; i < len(compressed); i += step {
			if _, err := pw.Write(compressed[i:min(i+step, len(compressed))]); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	start := time.Now()
	resp, err := c.Stream(ctx, http.MethodPut, "/v1/blobs/"+hash, nil, pr, http.Header{"Content-Type": {"application/zstd"}})
	if err != nil {
		t.Fatalf("a steady upload of %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	resp.Body.Close()
	if time.Since(start) < 3*timeout/2 {
		t.Fatalf("the upload took only %s; the test proves nothing", time.Since(start))
	}

	// A log stream that follows a queued run past the timeout.
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	var run api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: "project: p\nphases:\n  build: [\"true\"]\n", Bundle: bundle.ID}, &run); err != nil {
		t.Fatal(err)
	}
	ends := make(chan apiclient.End, 1)
	errs := make(chan error, 1)
	go func() {
		end, err := c.Follow(ctx, run.ID, io.Discard)
		errs <- err
		ends <- end
	}()
	select {
	case err := <-errs:
		t.Fatalf("the stream ended before the run: %v", err)
	case <-time.After(3 * timeout):
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/runs/"+run.ID+"/cancel", nil, struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if end := <-ends; end.Status != api.StatusCancelled {
		t.Fatalf("end %+v", end)
	}
}

// An agent token leases and reports, nothing else; revoked, it is refused.
func TestAgentTokens(t *testing.T) {
	url, token, _ := startServer(t)
	c := apiclient.New(url, token)
	ctx := context.Background()
	var created api.NewAgentResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "builder-1", Labels: map[string]string{"pool": "b"}}, &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Token, "jwa_") {
		t.Fatalf("token %q", created.Token)
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "builder-1"}, nil); err == nil || !strings.Contains(err.Error(), "revoke it first") {
		t.Fatalf("a second token for a live agent: %v", err)
	}
	agentClient := apiclient.New(url, created.Token)
	if err := agentClient.Do(ctx, http.MethodGet, "/v1/runs", nil, nil, nil); err == nil {
		t.Fatal("an agent token listed runs")
	}
	var hb runproto.HeartbeatResponse
	if err := agentClient.Do(ctx, http.MethodPost, runproto.HeartbeatPath, nil, runproto.HeartbeatRequest{Agent: runproto.AgentInfo{Name: "builder-1", Concurrency: 1, Labels: map[string]string{"pool": "b"}}}, &hb); err != nil {
		t.Fatal(err)
	}
	if err := agentClient.Do(ctx, http.MethodPost, runproto.HeartbeatPath, nil, runproto.HeartbeatRequest{Agent: runproto.AgentInfo{Name: "someone-else"}}, nil); err == nil || !strings.Contains(err.Error(), "belongs to agent") {
		t.Fatalf("an agent calling itself by another name: %v", err)
	}
	// What an agent says of itself is bounded: labels, lists, bodies.
	many := map[string]string{}
	for i := range 40 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	if err := agentClient.Do(ctx, http.MethodPost, runproto.HeartbeatPath, nil, runproto.HeartbeatRequest{Agent: runproto.AgentInfo{Name: "builder-1", Labels: many}}, nil); err == nil {
		t.Fatal("40 labels were taken")
	}
	if err := agentClient.Do(ctx, http.MethodPost, runproto.HeartbeatPath, nil, runproto.HeartbeatRequest{Agent: runproto.AgentInfo{Name: "builder-1", Version: strings.Repeat("v", 200<<10)}}, nil); err == nil {
		t.Fatal("a 200 KB heartbeat was taken")
	}
	var agents []api.Agent
	if err := c.Do(ctx, http.MethodGet, "/v1/agents", nil, nil, &agents); err != nil {
		t.Fatal(err)
	}
	if len(agents) != 1 || agents[0].Name != "builder-1" || agents[0].LastSeen == nil || agents[0].Labels["pool"] != "b" || agents[0].Address != "127.0.0.1" {
		t.Fatalf("agents: %+v", agents)
	}
	if err := c.Do(ctx, http.MethodDelete, "/v1/agents/builder-1", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	err := agentClient.Do(ctx, http.MethodPost, runproto.HeartbeatPath, nil, runproto.HeartbeatRequest{Agent: runproto.AgentInfo{Name: "builder-1"}}, nil)
	var se *apiclient.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("a revoked agent's heartbeat: %v", err)
	}
	// The servers' own agents have no token: none may take their names
	// (on a shared database, local-HOST-…), nor revoke them.
	for _, name := range []string{"local", "local-db1-a1b2c3"} {
		if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: name}, nil); err == nil {
			t.Fatalf("the server's own agent name %s was given out", name)
		}
		if err := c.Do(ctx, http.MethodDelete, "/v1/agents/"+name, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "server's own agent") {
			t.Fatalf("revoking %s: %v", name, err)
		}
	}
}

// A request that sends its body and then waits for its answer — an agent's
// long poll for a lease — is not cut by the body timeout: the deadline
// ends with the body.
func TestBodyTimeoutSparesLongPolls(t *testing.T) {
	const timeout = time.Second
	base, token := servertest.Start(t, server.Options{DataDir: filepath.Join(t.TempDir(), "data"), BodyTimeout: timeout})
	ctx := context.Background()
	c := apiclient.New(base, token)
	var agent api.NewAgentResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "poller"}, &agent); err != nil {
		t.Fatal(err)
	}
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	queued := make(chan string, 1)
	time.AfterFunc(3*timeout, func() {
		var run api.Run
		err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: "project: p\nphases:\n  build: [\"true\"]\n", Bundle: bundle.ID}, &run)
		if err != nil {
			t.Error(err)
		}
		queued <- run.ID
	})
	start := time.Now()
	var lease runproto.Lease
	err := apiclient.New(base, agent.Token).Do(ctx, http.MethodPost, runproto.LeasePath, nil,
		runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: "poller", Concurrency: 1}, Running: []string{}}, &lease)
	if err != nil {
		t.Fatalf("the long poll, after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if id := <-queued; lease.RunID != id || time.Since(start) < 3*timeout {
		t.Fatalf("lease %+v after %s, want run %s", lease, time.Since(start), id)
	}
}
