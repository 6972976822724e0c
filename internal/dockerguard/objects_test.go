package dockerguard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

func TestOwnRepository(t *testing.T) {
	g := New(Config{Project: "hello", Repositories: []string{"registry.internal:5000/team/web"}})
	for ref, want := range map[string]bool{
		"hello":                                   true,
		"hello:latest":                            true,
		"docker.io/library/hello:1":               true,
		"hello/api:2":                             true,
		"registry.internal:5000/hello:3":          true,
		"registry.internal:5000/hello/x":          true,
		"registry.internal:5000/team/web:9":       true,
		"registry.internal:5000/team/web2":        false,
		"registry.internal:5000/team/other":       false,
		"hello-world":                             false,
		"helloworld/x":                            false,
		"busybox":                                 false,
		"library/busybox:latest":                  false,
		"other/hello":                             false,
		"Hello":                                   false, // not a valid name
		"hello@sha256:" + strings.Repeat("a", 64): true,
	} {
		if got := g.ownRepository(ref); got != want {
			t.Errorf("ownRepository(%q) = %v, want %v", ref, got, want)
		}
	}
}

// TestRefusedWithoutReachingTheHost: endpoints that act on the whole
// host are refused by the route table, before any connection is made.
func TestRefusedWithoutReachingTheHost(t *testing.T) {
	g := New(Config{Project: "hello", Dialer: nil, Policy: api.DockerPolicy{}})
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/swarm/init", "swarm"},
		{"GET", "/v1.41/services", "swarm"},
		{"POST", "/secrets/create", "swarm"},
		{"POST", "/plugins/pull", "plugin"},
		{"POST", "/images/prune", "prunes the whole"},
		{"POST", "/build/prune", "prunes the whole"},
		{"POST", "/grpc", "BuildKit control API"},
		{"POST", "/images/load", "docker load"},
		{"GET", "/system/df", "lists every project"},
		{"POST", "/containers/x/copy", "not an endpoint"},
		{"GET", "/v1.12/version", "not served"},
		{"GET", "/v2.0/version", "not served"},
		{"GET", "/containers/a%2Fb/json", "canonical"},
		{"DELETE", "/info", "not an endpoint"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(c.method, "http://docker"+c.path, nil)
		g.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden && rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s %s: %d %s", c.method, c.path, rec.Code, rec.Body.String())
		}
	}
}
