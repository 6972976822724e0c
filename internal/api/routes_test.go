package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// routeMux registers every route of the table on a real ServeMux, each
// answering with its pattern and its wildcards' values.
func routeMux(t *testing.T) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	wildcard := regexp.MustCompile(`\{([a-z]+)(\.\.\.)?\}`)
	for _, route := range Routes() {
		var names []string
		for _, m := range wildcard.FindAllStringSubmatch(route, -1) {
			names = append(names, m[1])
		}
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			values := map[string]string{}
			for _, n := range names {
				values[n] = r.PathValue(n)
			}
			_ = json.NewEncoder(w).Encode(struct {
				Pattern string
				Values  map[string]string
			}{r.Pattern, values})
		})
	}
	// As the server does: whatever else is under the prefix is unknown.
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	return mux
}

func TestRoutesAreDistinctPatterns(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes() {
		if seen[r] {
			t.Errorf("route %q is listed twice", r)
		}
		seen[r] = true
		method, path, ok := strings.Cut(r, " ")
		if !ok || method != strings.ToUpper(method) || !strings.HasPrefix(path, Prefix) {
			t.Errorf("route %q is not METHOD %s…", r, Prefix)
		}
	}
	routeMux(t) // panics on a pattern ServeMux refuses or finds in conflict
}

// Each builder's path, sent as a client sends it, reaches its route with
// the values it was built from, names that need escaping included.
func TestBuiltPathsMatchTheirRoutes(t *testing.T) {
	const odd = "a b/c%d?e#f&g+ü" // a slash, a percent, query and fragment marks
	type want = map[string]string
	cases := []struct {
		route, path string
		values      want
	}{
		{RouteCreateRun, RunsPath, want{}},
		{RouteListRuns, RunsPath, want{}},
		{RouteGetRun, RunPath("r-1"), want{"id": "r-1"}},
		{RouteGetRun, RunPath(odd), want{"id": odd}},
		{RouteRunLogs, RunLogsPath(odd), want{"id": odd}},
		{RouteCancelRun, RunCancelPath(odd), want{"id": odd}},
		{RouteRerunRun, RunRerunPath(odd), want{"id": odd}},
		{RouteListArtifacts, RunArtifactsPath(odd), want{"id": odd}},
		{RouteAddArtifact, RunArtifactsPath(odd), want{"id": odd}},
		{RouteGetArtifact, RunArtifactPath(odd, "coverage/index.html"), want{"id": odd, "name": "coverage/index.html"}},
		{RouteGetArtifact, RunArtifactPath("r", "dir with space/50%?#.txt"), want{"id": "r", "name": "dir with space/50%?#.txt"}},
		{RouteGetArtifact, RunArtifactPath("r", "chunks/x"), want{"id": "r", "name": "chunks/x"}},
		{RouteRunSpec, RunSpecPath(odd), want{"id": odd}},
		{RouteRunBundle, RunBundlePath(odd), want{"id": odd}},
		{RouteRunEvents, RunEventsPath(odd), want{"id": odd}},
		{RouteRunIDTokens, RunIDTokensPath(odd), want{"id": odd}},
		{RoutePutArtifactChunk, RunArtifactChunkPath(odd, "ab12"), want{"id": odd, "hash": "ab12"}},
		{RouteMissingBlobs, BundlesMissingPath, want{}},
		{RoutePutBlob, BlobPath("ab12"), want{"hash": "ab12"}},
		{RoutePutBlob, BlobPath(odd), want{"hash": odd}},
		{RouteCreateBundle, BundlesPath, want{}},
		{RouteListParams, ParamsPath, want{}},
		{RoutePutParam, ParamsPath, want{}},
		{RouteDeleteParam, ParamsPath, want{}},
		{RouteGetParam, ParamValuePath, want{}},
		{RouteCredentials, CredentialsPath, want{}},
		{RouteWhoami, WhoamiPath, want{}},
		{RouteListTokens, TokensPath, want{}},
		{RouteCreateToken, TokensPath, want{}},
		{RouteRevokeToken, TokenPath(odd), want{"name": odd}},
		{RouteListAudit, AuditPath, want{}},
		{RouteRotateOIDCKey, OIDCRotatePath, want{}},
		{RouteLease, LeasePath, want{}},
		{RouteHeartbeat, HeartbeatPath, want{}},
		{RouteCreateAgent, AgentsPath, want{}},
		{RouteListAgents, AgentsPath, want{}},
		{RouteRevokeAgent, AgentPath(odd), want{"name": odd}},
		{RouteListProjects, ProjectsPath, want{}},
		{RouteGetProject, ProjectPath(odd), want{"name": odd}},
		{RoutePutProject, ProjectPath("web"), want{"name": "web"}},
		{RouteDeleteProject, ProjectPath(odd), want{"name": odd}},
		{RouteListHosts, HostsPath, want{}},
		{RouteAddHost, HostsPath, want{}},
		{RouteGetHost, HostPath(odd), want{"name": odd}},
		{RoutePutHost, HostPath(odd), want{"name": odd}},
		{RouteDeleteHost, HostPath(odd), want{"name": odd}},
		{RouteDrainHost, HostDrainPath(odd), want{"name": odd}},
		{RouteGCHost, HostGCPath(odd), want{"name": odd}},
	}
	mux := routeMux(t)
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.route] = true
		method, _, _ := strings.Cut(c.route, " ")
		t.Run(c.route+" "+c.path, func(t *testing.T) {
			// Through a parsed URL, as the server receives it.
			req := httptest.NewRequest(method, "http://jetway.test"+c.path+"?follow=1", nil)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s %s: status %d, want the route's handler", method, c.path, rec.Code)
			}
			var got struct {
				Pattern string
				Values  map[string]string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Pattern != c.route {
				t.Errorf("%s %s reached %q, want %q", method, c.path, got.Pattern, c.route)
			}
			for k, v := range c.values {
				if got.Values[k] != v {
					t.Errorf("%s %s: {%s} = %q, want %q", method, c.path, k, got.Values[k], v)
				}
			}
			if len(got.Values) != len(c.values) {
				t.Errorf("%s %s: wildcards %v, want %v", method, c.path, got.Values, c.values)
			}
		})
	}
	for _, r := range Routes() {
		if !covered[r] {
			t.Errorf("route %q has no case: add its builder here", r)
		}
	}
	for r := range covered {
		if !slices.Contains(Routes(), r) {
			t.Errorf("a case names route %q, which Routes() lacks", r)
		}
	}
}
