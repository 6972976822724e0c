package api

import "net/url"

// The route table of the /v1 API, defined once for the server and its
// clients. Each Route* constant is the net/http ServeMux pattern the server
// registers (method, space, path with {wildcards}); each *Path constant or
// function is the concrete path a client sends to it, with every wildcard
// escaped, so that the server's mux hands back exactly the value the client
// put in (routes_test.go proves each pair against a real ServeMux).
//
//	mux.Handle(api.RouteGetRun, h)                     // server
//	client.Do(ctx, http.MethodGet, api.RunPath(id), …) // client
//
// No other package spells a "/v1/" path: a test fails on such a literal.
//
// A wildcard value of "." or ".." cannot be addressed (ServeMux cleans the
// path before matching); the server's names and ids are never either.

// Prefix begins every path of the API.
const Prefix = "/v1/"

// Runs: created from a bundle, listed, followed, cancelled, rerun.
const (
	RouteCreateRun     = "POST /v1/runs"
	RouteListRuns      = "GET /v1/runs"
	RouteGetRun        = "GET /v1/runs/{id}"
	RouteRunLogs       = "GET /v1/runs/{id}/logs"
	RouteCancelRun     = "POST /v1/runs/{id}/cancel"
	RouteRerunRun      = "POST /v1/runs/{id}/rerun"
	RouteListArtifacts = "GET /v1/runs/{id}/artifacts"
	RouteGetArtifact   = "GET /v1/runs/{id}/artifacts/{name...}"

	RunsPath = "/v1/runs"
)

// A run's own routes, called by its runner with the run token.
const (
	RouteRunSpec          = "GET /v1/runs/{id}/spec"
	RouteRunBundle        = "GET /v1/runs/{id}/bundle"
	RouteRunEvents        = "POST /v1/runs/{id}/events"
	RouteRunIDTokens      = "POST /v1/runs/{id}/id-tokens"
	RouteAddArtifact      = "POST /v1/runs/{id}/artifacts"
	RoutePutArtifactChunk = "PUT /v1/runs/{id}/artifacts/chunks/{hash}"
)

// Bundles: which blobs the server lacks, the blobs, then the manifest.
const (
	RouteMissingBlobs = "POST /v1/bundles/missing"
	RoutePutBlob      = "PUT /v1/blobs/{hash}"
	RouteCreateBundle = "POST /v1/bundles"

	BundlesPath        = "/v1/bundles"
	BundlesMissingPath = "/v1/bundles/missing"
)

// Parameters and the scoped credentials that read them.
const (
	RouteListParams  = "GET /v1/params"
	RoutePutParam    = "POST /v1/params"
	RouteDeleteParam = "DELETE /v1/params"
	RouteGetParam    = "GET /v1/params/value"
	RouteCredentials = "POST /v1/credentials"

	ParamsPath      = "/v1/params"
	ParamValuePath  = "/v1/params/value"
	CredentialsPath = "/v1/credentials"
)

// Identity: who a token is, tokens, the audit log, the OIDC signing key.
const (
	RouteWhoami        = "GET /v1/whoami"
	RouteListTokens    = "GET /v1/tokens"
	RouteCreateToken   = "POST /v1/tokens"
	RouteRevokeToken   = "DELETE /v1/tokens/{name}"
	RouteListAudit     = "GET /v1/audit"
	RouteRotateOIDCKey = "POST /v1/oidc/rotate"

	WhoamiPath     = "/v1/whoami"
	TokensPath     = "/v1/tokens"
	AuditPath      = "/v1/audit"
	OIDCRotatePath = "/v1/oidc/rotate"
)

// Agents: the agent protocol (agent token) and their administration.
const (
	RouteLease       = "POST /v1/agent/lease"
	RouteHeartbeat   = "POST /v1/agent/heartbeat"
	RouteCreateAgent = "POST /v1/agents"
	RouteListAgents  = "GET /v1/agents"
	RouteRevokeAgent = "DELETE /v1/agents/{name}"

	LeasePath     = "/v1/agent/lease"
	HeartbeatPath = "/v1/agent/heartbeat"
	AgentsPath    = "/v1/agents"
)

// Projects' server-side settings.
const (
	RouteListProjects  = "GET /v1/projects"
	RouteGetProject    = "GET /v1/projects/{name}"
	RoutePutProject    = "PUT /v1/projects/{name}"
	RouteDeleteProject = "DELETE /v1/projects/{name}"

	ProjectsPath = "/v1/projects"
)

// The Docker host pool.
const (
	RouteListHosts  = "GET /v1/hosts"
	RouteAddHost    = "POST /v1/hosts"
	RouteGetHost    = "GET /v1/hosts/{name}"
	RoutePutHost    = "PUT /v1/hosts/{name}"
	RouteDeleteHost = "DELETE /v1/hosts/{name}"
	RouteDrainHost  = "POST /v1/hosts/{name}/drain"
	RouteGCHost     = "POST /v1/hosts/{name}/gc"

	HostsPath = "/v1/hosts"
)

// Routes lists every route of the table, for a server to check that it
// serves them all.
func Routes() []string {
	return []string{
		RouteCreateRun, RouteListRuns, RouteGetRun, RouteRunLogs, RouteCancelRun, RouteRerunRun, RouteListArtifacts, RouteGetArtifact,
		RouteRunSpec, RouteRunBundle, RouteRunEvents, RouteRunIDTokens, RouteAddArtifact, RoutePutArtifactChunk,
		RouteMissingBlobs, RoutePutBlob, RouteCreateBundle,
		RouteListParams, RoutePutParam, RouteDeleteParam, RouteGetParam, RouteCredentials,
		RouteWhoami, RouteListTokens, RouteCreateToken, RouteRevokeToken, RouteListAudit, RouteRotateOIDCKey,
		RouteLease, RouteHeartbeat, RouteCreateAgent, RouteListAgents, RouteRevokeAgent,
		RouteListProjects, RouteGetProject, RoutePutProject, RouteDeleteProject,
		RouteListHosts, RouteAddHost, RouteGetHost, RoutePutHost, RouteDeleteHost, RouteDrainHost, RouteGCHost,
	}
}

// seg escapes one path segment: a "/" in it becomes %2F, which ServeMux
// matches as part of the one {wildcard} and hands back unescaped.
func seg(s string) string { return url.PathEscape(s) }

// RunPath is the path of run id (RouteGetRun).
func RunPath(id string) string { return RunsPath + "/" + seg(id) }

// RunLogsPath is the path of a run's log (RouteRunLogs).
func RunLogsPath(id string) string { return RunPath(id) + "/logs" }

// RunCancelPath cancels a run (RouteCancelRun).
func RunCancelPath(id string) string { return RunPath(id) + "/cancel" }

// RunRerunPath reruns a run (RouteRerunRun).
func RunRerunPath(id string) string { return RunPath(id) + "/rerun" }

// RunArtifactsPath lists a run's artifacts, or adds one (RouteListArtifacts,
// RouteAddArtifact).
func RunArtifactsPath(id string) string { return RunPath(id) + "/artifacts" }

// RunArtifactPath is the path of artifact name of run id (RouteGetArtifact).
// The name's slashes stay slashes: it is the rest of the path.
func RunArtifactPath(id, name string) string {
	return RunArtifactsPath(id) + "/" + (&url.URL{Path: name}).EscapedPath()
}

// RunSpecPath is the path of a run's spec (RouteRunSpec).
func RunSpecPath(id string) string { return RunPath(id) + "/spec" }

// RunBundlePath is the path of a run's source (RouteRunBundle).
func RunBundlePath(id string) string { return RunPath(id) + "/bundle" }

// RunEventsPath is where a run's events are posted (RouteRunEvents).
func RunEventsPath(id string) string { return RunPath(id) + "/events" }

// RunIDTokensPath is where a run asks for its OIDC tokens (RouteRunIDTokens).
func RunIDTokensPath(id string) string { return RunPath(id) + "/id-tokens" }

// RunArtifactChunkPath is where a run puts one chunk of an artifact
// (RoutePutArtifactChunk).
func RunArtifactChunkPath(id, hash string) string {
	return RunArtifactsPath(id) + "/chunks/" + seg(hash)
}

// BlobPath is where a bundle's blob is put (RoutePutBlob).
func BlobPath(hash string) string { return "/v1/blobs/" + seg(hash) }

// TokenPath is the path of the token called name (RouteRevokeToken).
func TokenPath(name string) string { return TokensPath + "/" + seg(name) }

// AgentPath is the path of the agent called name (RouteRevokeAgent).
func AgentPath(name string) string { return AgentsPath + "/" + seg(name) }

// ProjectPath is the path of project name's settings (RouteGetProject,
// RoutePutProject, RouteDeleteProject).
func ProjectPath(name string) string { return ProjectsPath + "/" + seg(name) }

// HostPath is the path of the Docker host called name (RouteGetHost,
// RoutePutHost, RouteDeleteHost).
func HostPath(name string) string { return HostsPath + "/" + seg(name) }

// HostDrainPath drains a host (RouteDrainHost).
func HostDrainPath(name string) string { return HostPath(name) + "/drain" }

// HostGCPath collects a host's garbage now (RouteGCHost).
func HostGCPath(name string) string { return HostPath(name) + "/gc" }
