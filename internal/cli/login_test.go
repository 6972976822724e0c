package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

// whoamiServer answers /v1/whoami for token and records the tokens other
// requests came with.
func whoamiServer(t *testing.T, token, name string) (url string, seen *[]string) {
	t.Helper()
	var tokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if got != token {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"bad token"}`))
			return
		}
		if r.URL.Path == "/v1/whoami" {
			json.NewEncoder(w).Encode(api.Whoami{Name: name, Role: api.RoleDeployer})
			return
		}
		tokens = append(tokens, got)
		w.Write([]byte("[]"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &tokens
}

func TestLoginContexts(t *testing.T) {
	cfg := t.TempDir()
	env := map[string]string{"HOME": t.TempDir(), "XDG_CONFIG_HOME": cfg, "JETWAY_RUNTIME_DIR": t.TempDir()}
	prod, prodSeen := whoamiServer(t, "tp", "ci-prod")
	stage, stageSeen := whoamiServer(t, "ts", "ci-stage")

	if code, out, errb := runJetway(t, env, "login", "--name", "prod", "--server", prod, "--token", "tp"); code != 0 || !strings.Contains(out, "logged in to "+prod+" as ci-prod (deployer)") {
		t.Fatalf("login prod: %d %q %q", code, out, errb)
	}
	if code, out, errb := runJetway(t, env, "login", "--name", "stage", stage+"/", "--token", "ts"); code != 0 || !strings.Contains(out, "as ci-stage (deployer)") {
		t.Fatalf("login stage: %d %q %q", code, out, errb)
	}
	if code, _, errb := runJetway(t, env, "login", "--name", "bad", "--server", prod, "--token", "wrong"); code != ExitFailed || !strings.Contains(errb, "bad token") {
		t.Fatalf("login with a bad token: %d %q", code, errb)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want *[]string
		tok  string
	}{
		{name: "current is the last login", want: stageSeen, tok: "ts"},
		{name: "--context", args: []string{"--context", "prod"}, want: prodSeen, tok: "tp"},
		{name: "JETWAY_CONTEXT", env: map[string]string{"JETWAY_CONTEXT": "prod"}, want: prodSeen, tok: "tp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				env[k] = v
				defer delete(env, k)
			}
			before := len(*tc.want)
			if code, _, errb := runJetway(t, env, append([]string{"runs"}, tc.args...)...); code != 0 || len(*tc.want) != before+1 || (*tc.want)[before] != tc.tok {
				t.Fatalf("runs: %d %q", code, errb)
			}
		})
	}

	if code, _, errb := runJetway(t, env, "runs", "--context", "nope"); code != ExitUsage || !strings.Contains(errb, `no context "nope"; the saved ones are prod, stage`) {
		t.Fatalf("unknown context: %d %q", code, errb)
	}
	if code, out, _ := runJetway(t, env, "context", "use", "prod"); code != 0 || !strings.Contains(out, "now using context prod") {
		t.Fatalf("context use: %d %q", code, out)
	}
	code, out, _ := runJetway(t, env, "context", "ls")
	if code != 0 || !strings.Contains(out, "*        prod   "+prod) || !strings.Contains(out, "\n         stage  "+stage) || strings.Contains(out, "tp") && strings.Contains(out, "ts") {
		t.Fatalf("context ls:\n%s", out)
	}
	if code, _, errb := runJetway(t, env, "context", "use", "nope"); code != ExitUsage || !strings.Contains(errb, "no context") {
		t.Fatalf("context use nope: %d %q", code, errb)
	}

	// A jetway from before contexts reads the top-level server and token:
	// they are the current context's.
	var f struct{ Server, Token string }
	data, err := os.ReadFile(filepath.Join(cfg, "jetway", "login.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &f))
	if f.Server != prod || f.Token != "tp" {
		t.Fatalf("top-level login: %+v", f)
	}
}

// A login file from before contexts is the context "default".
func TestLoginFileBeforeContexts(t *testing.T) {
	cfg := t.TempDir()
	env := map[string]string{"HOME": t.TempDir(), "XDG_CONFIG_HOME": cfg, "JETWAY_RUNTIME_DIR": t.TempDir()}
	url, seen := whoamiServer(t, "old", "someone")
	must(t, os.MkdirAll(filepath.Join(cfg, "jetway"), 0o700))
	must(t, os.WriteFile(filepath.Join(cfg, "jetway", "login.json"), []byte(`{"server":"`+url+`","token":"old"}`), 0o600))
	if code, _, errb := runJetway(t, env, "runs"); code != 0 || len(*seen) != 1 {
		t.Fatalf("runs with an old login file: %d %q", code, errb)
	}
	if code, out, _ := runJetway(t, env, "context", "ls"); code != 0 || !strings.Contains(out, "*        default  "+url) {
		t.Fatalf("context ls:\n%s", out)
	}
	if code, _, errb := runJetway(t, env, "runs", "--context", "default"); code != 0 {
		t.Fatalf("--context default: %d %q", code, errb)
	}
}
