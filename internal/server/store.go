package server

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	storepkg "github.com/jetway-dev/jetway/internal/store"
	"github.com/jetway-dev/jetway/web"
)

// The server's storage, in small parts. internal/store implements them
// all on SQLite (the embedded default) and on PostgreSQL (several servers
// on one database); its conformance tests run on both.

// RunStore keeps runs and their states.
type RunStore interface {
	CreateRun(ctx context.Context, r storepkg.StoredRun) error
	GetRun(ctx context.Context, id string) (storepkg.StoredRun, error)
	ListRuns(ctx context.Context, project string, statuses []string, limit int) ([]storepkg.StoredRun, error)
	Transition(ctx context.Context, id string, from []string, status, reason string, summary *api.Summary) (bool, error)
	FailUnfinished(ctx context.Context, reason string, agents ...string) (int64, error)
	SetReason(ctx context.Context, id, status, reason string) error
	RequestCancel(ctx context.Context, id string) error
}

// Queue hands queued runs to agents.
type Queue interface {
	Queued(ctx context.Context) ([]storepkg.StoredRun, error)
	Active(ctx context.Context) ([]storepkg.StoredRun, error)
	LeaseNext(ctx context.Context, agent, tokenHash string, limit int, match func(storepkg.StoredRun) bool) (storepkg.StoredRun, bool, error)
	Requeue(ctx context.Context, id, reason string) (bool, error)
	RunOfToken(ctx context.Context, tokenHash string) (storepkg.StoredRun, error)
}

// LogStore keeps runs' logs and the numbers of their stored events.
type LogStore interface {
	AppendLog(ctx context.Context, runID, data string) (int64, error)
	AppendEvents(ctx context.Context, runID string, after, upTo int64, text string) (bool, error)
	EventsAcked(ctx context.Context, runID string) (int64, error)
	ReadLog(ctx context.Context, runID string, after int64) ([]storepkg.Chunk, error)
}

// BundleStore keeps bundle manifests.
type BundleStore interface {
	PutBundle(ctx context.Context, id string, m api.Manifest) error
	GetBundle(ctx context.Context, id string) (api.Manifest, error)
}

// ArtifactStore keeps the files runs kept: their names, sizes and hashes,
// and the blobs (of the blob store) whose concatenation each is.
type ArtifactStore interface {
	AddArtifact(ctx context.Context, runID string, a api.Artifact, chunks []string) error
	ListArtifacts(ctx context.Context, runID string) ([]api.Artifact, error)
	// GetArtifact returns storepkg.ErrNotFound for a name the run lacks.
	GetArtifact(ctx context.Context, runID, name string) (api.Artifact, []string, error)

	// ReserveRunChunk records a chunk a run uploads, before its upload,
	// within the run's bounds (storepkg.ErrOverBudget past them); false
	// for a chunk it had uploaded already. ReleaseRunChunk forgets one
	// whose upload failed. Reservations of one run are serialised.
	ReserveRunChunk(ctx context.Context, runID, hash string, size, maxBytes int64, maxChunks int) (bool, error)
	ReleaseRunChunk(ctx context.Context, runID, hash string) error
	// RunChunks maps the chunks a run uploaded to their reserved sizes.
	RunChunks(ctx context.Context, runID string) (map[string]int64, error)
	// EndedChunkRuns lists ended (or pruned) runs with uploads recorded;
	// UnrecordedChunks a run's uploads no artifact of its own names;
	// ChunksInUse which of hashes something else needs (bundles, any
	// artifact, other runs' uploads); ForgetRunChunks drops a run's
	// record. All are safe to repeat, from any server.
	EndedChunkRuns(ctx context.Context) ([]string, error)
	UnrecordedChunks(ctx context.Context, runID string) ([]string, error)
	ChunksInUse(ctx context.Context, runID string, hashes []string) (map[string]bool, error)
	ForgetRunChunks(ctx context.Context, runID string) error
}

// AgentStore keeps agents and their tokens' hashes.
type AgentStore interface {
	CreateAgent(ctx context.Context, name, tokenHash string, allowed map[string]string, maxConcurrency int) error
	AgentOfToken(ctx context.Context, tokenHash string) (storepkg.StoredAgent, error)
	AgentByName(ctx context.Context, name string) (storepkg.StoredAgent, error)
	ListAgents(ctx context.Context) ([]storepkg.StoredAgent, error)
	RevokeAgent(ctx context.Context, name string) error
	AgentSeen(ctx context.Context, a api.Agent) error
	AgentSilences(ctx context.Context) (map[string]time.Duration, error)
	EnsureAgent(ctx context.Context, name string) error
}

// ProjectStore keeps projects' operator settings (jetway projects), which
// only the API token changes, and hands runs their project's Docker
// policy. Every call is safe to repeat and to make concurrently, from any
// server of a shared database.
type ProjectStore interface {
	// GetProject returns storepkg.ErrNotFound for a project without
	// settings: it has the strict default.
	GetProject(ctx context.Context, name string) (api.Project, error)
	// PutProject replaces a project's settings (checked by the caller)
	// and returns them as stored, with the time of the change.
	PutProject(ctx context.Context, p api.Project) (api.Project, error)
	// ListProjects lists the projects with settings, by name.
	ListProjects(ctx context.Context) ([]api.Project, error)
	// DeleteProject puts a project back on the strict default;
	// storepkg.ErrNotFound if it had no settings.
	DeleteProject(ctx context.Context, name string) error
	// GrantDockerPolicy records with a run the policy its project has at
	// this moment and returns it (storepkg.ErrNotFound for an unknown
	// run); the run shows it in api.Run.Docker from then on.
	GrantDockerPolicy(ctx context.Context, runID string) (api.DockerPolicy, error)
}

// HostStore keeps the Docker hosts the server knows (jetway hosts), what
// their health checks found, their last GC, and the host each run of a
// pool was given. Only the API token changes hosts (checked by the
// caller: names, URLs, references). Every server's health checks write
// state; a check older than the stored one changes nothing, so replicas
// may all check. Every call is safe to repeat and to make concurrently,
// from any server of a shared database.
type HostStore interface {
	// AddHost returns storepkg.ErrExists for a name taken.
	AddHost(ctx context.Context, h api.DockerHost) (api.DockerHost, error)
	// PutHost replaces a host's settings but draining; a new URL or new
	// credentials forget its state. storepkg.ErrNotFound for an unknown
	// host, as for GetHost, DeleteHost and DrainHost.
	PutHost(ctx context.Context, h api.DockerHost) (api.DockerHost, error)
	// GetHost and ListHosts give each host its state as stored (nil if
	// never checked and never collected); Builds and Home are the
	// caller's to count.
	GetHost(ctx context.Context, name string) (api.DockerHost, error)
	// ListHosts lists the hosts of pool ("": all) by name.
	ListHosts(ctx context.Context, pool string) ([]api.DockerHost, error)
	DeleteHost(ctx context.Context, name string) error
	DrainHost(ctx context.Context, name string, draining bool) (api.DockerHost, error)
	// RecordHostState stores a check's finding and returns the state as
	// stored, and whether the host went up or down with it.
	RecordHostState(ctx context.Context, name string, st api.HostState) (api.HostState, bool, error)
	// RecordHostGC keeps the latest of a host's GC reports.
	RecordHostGC(ctx context.Context, name string, r api.GCReport) error
	// AssignDockerHost records with a run the host it was given and its
	// affinity key's Dockerfile; SetBuiltOn the host its summary says it
	// built on. storepkg.ErrNotFound for an unknown run.
	AssignDockerHost(ctx context.Context, runID, dockerfile string, a api.AssignedHost) error
	SetBuiltOn(ctx context.Context, runID, host string) error
	// PoolKeys lists the affinity keys that ran in each pool, among the
	// runs kept.
	PoolKeys(ctx context.Context) ([]storepkg.PoolKey, error)
}

// SessionStore keeps the dashboard's sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s storepkg.StoredSession) error
	LookupSession(ctx context.Context, idHash string) (storepkg.StoredSession, bool, error)
	RevokeSession(ctx context.Context, idHash string) error
}

// TokenStore keeps the API tokens of people and machines (jetway tokens)
// by a digest of each; the server's own token is not among them.
type TokenStore interface {
	// CreateToken returns storepkg.ErrExists for a name or digest taken.
	CreateToken(ctx context.Context, t storepkg.StoredToken) error
	// TokenByHash returns storepkg.ErrNotFound for a digest of no token
	// (never made, or revoked).
	TokenByHash(ctx context.Context, hash string) (storepkg.StoredToken, error)
	ListTokens(ctx context.Context) ([]storepkg.StoredToken, error)
	// RevokeToken deletes a token: storepkg.ErrNotFound for none.
	RevokeToken(ctx context.Context, name string) error
	TouchToken(ctx context.Context, hash string, t time.Time) error
}

// AuditLog keeps the audit log: appended to, listed, and pruned by
// retention only.
type AuditLog interface {
	AppendAudit(ctx context.Context, e api.AuditEntry) error
	// ListAudit lists entries at or after since with seq > after, oldest
	// first, at most limit.
	ListAudit(ctx context.Context, since time.Time, after int64, limit int) ([]api.AuditEntry, error)
	PruneAudit(ctx context.Context, cutoff time.Time) (int, error)
}

// BlobStore keeps blobs in the database, when servers share one.
type BlobStore interface {
	HasBlob(ctx context.Context, hash string) (bool, error)
	BlobSize(ctx context.Context, hash string) (int64, error)
	PutBlob(ctx context.Context, hash string, content io.Reader) error
	OpenBlob(ctx context.Context, hash string) (io.ReadCloser, error)
	// DeleteBlob removes a blob stamped before before (zero: any).
	DeleteBlob(ctx context.Context, hash string, before time.Time) (bool, error)
}

// Retainer prunes what retention lets go.
type Retainer interface {
	PruneRuns(ctx context.Context, keep int, cutoff time.Time) (int, error)
	PruneBundles(ctx context.Context, cutoff time.Time) (map[string]bool, error)
	PruneBlobs(ctx context.Context, keep map[string]bool, cutoff time.Time) (int, error)
}

// Peers are the other servers of a shared database.
type Peers interface {
	// Shared tells whether other servers may use the database.
	Shared() bool
	Publish(ctx context.Context, payload string) error
	Listen(ctx context.Context, log *slog.Logger, fn func(payload string))
	Setting(ctx context.Context, name, value string) (string, error)
	LookupSetting(ctx context.Context, name string) (string, bool, error)
}

// Store is all of it.
type Store interface {
	RunStore
	Queue
	LogStore
	BundleStore
	ArtifactStore
	AgentStore
	ProjectStore
	HostStore
	SessionStore
	TokenStore
	AuditLog
	OIDCKeyStore
	BlobStore
	Retainer
	Peers
	Close() error
}

var _ Store = (*storepkg.Store)(nil)

type webSession = web.Session

// dbSessions keeps the dashboard's sessions in the store, by a digest of
// their ID, so that they survive a restart and work on every server;
// their CSRF tokens, derived from the ID, are not kept.
type dbSessions struct{ store SessionStore }

func (d dbSessions) Create(ctx context.Context, s webSession) error {
	return d.store.CreateSession(ctx, storepkg.StoredSession{IDHash: hashToken(s.ID), Token: s.Token, Expires: s.Expires})
}

func (d dbSessions) Lookup(ctx context.Context, id string) (webSession, bool, error) {
	s, ok, err := d.store.LookupSession(ctx, hashToken(id))
	if !ok || err != nil { // the store finds only live sessions
		return webSession{}, false, err
	}
	// The dashboard derives the CSRF token from the ID: none is stored.
	return webSession{ID: id, Token: s.Token, Expires: s.Expires}, true, nil
}

func (d dbSessions) Revoke(ctx context.Context, id string) error {
	return d.store.RevokeSession(ctx, hashToken(id))
}
