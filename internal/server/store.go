package server

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/web"
)

// The server's storage, in small parts, declared here where they are
// used and in the terms of package record; internal/store implements them
// all on SQLite (the embedded default) and on PostgreSQL (several servers
// on one database), and its tests run on both. Unless a method says
// otherwise: every call is safe to make concurrently, from this server
// and from every other server of a shared database; a read of something
// missing answers record.ErrNotFound; and any other error is the
// database's, which the caller reports as it is.

// RunStore keeps runs and their states. A run's state only moves
// through Transition (or a lease, a requeue, FailUnfinished), each a
// compare-and-set, so servers racing on one run agree on one outcome.
type RunStore interface {
	// CreateRun stores a new run as given (queued); its ID must be new.
	// What it carries from its deployer (Pass, RunVars) is stored sealed.
	CreateRun(ctx context.Context, r record.Run) error
	// GetRun reads a run; record.ErrNotFound for an unknown (or pruned) ID.
	GetRun(ctx context.Context, id string) (record.Run, error)
	// ListRuns lists at most limit runs (0: all) newest first, of project
	// ("": any) and in one of statuses (nil: any).
	ListRuns(ctx context.Context, project string, statuses []string, limit int) ([]record.Run, error)
	// Transition moves a run from one of the states in from to status with
	// reason (and summary, if not nil), and reports whether it did: false
	// when the run had moved on already, which is no error. Entering
	// provisioning stamps its start; a final state its end.
	Transition(ctx context.Context, id string, from []string, status, reason string, summary *api.Summary) (bool, error)
	// FailUnfinished fails, with reason, the runs left provisioning or
	// running on one of agents (a restarted server's own), and returns how
	// many. Runs on other agents go on; safe to repeat.
	FailUnfinished(ctx context.Context, reason string, agents ...string) (int64, error)
	// SetReason changes the reason a run shows if it is still in status;
	// else it does nothing.
	SetReason(ctx context.Context, id, status, reason string) error
	// RequestCancel records that a user asked to stop a leased run (its
	// agent learns it at its next heartbeat); idempotent.
	RequestCancel(ctx context.Context, id string) error
}

// Queue hands queued runs to agents.
type Queue interface {
	// Queued lists the queued runs, oldest first.
	Queued(ctx context.Context) ([]record.Run, error)
	// Active lists the runs agents execute (provisioning or running),
	// oldest first.
	Active(ctx context.Context) ([]record.Run, error)
	// LeaseNext hands agent the oldest queued run that match accepts and
	// whose project has no active run, recording tokenHash as its run
	// token's, unless the agent has limit active runs already; false when
	// there is nothing for it. Servers leasing at the same moment never
	// hand out one run twice, nor two active runs of one project. match
	// must not call the store.
	LeaseNext(ctx context.Context, agent, tokenHash string, limit int, match func(record.Run) bool) (record.Run, bool, error)
	// Requeue puts a leased run that never started back in the queue,
	// showing reason while it waits; false if it had started or ended.
	Requeue(ctx context.Context, id, reason string) (bool, error)
	// RunOfToken finds the run whose run token hashes to tokenHash, live
	// or ended; record.ErrNotFound for none.
	RunOfToken(ctx context.Context, tokenHash string) (record.Run, error)
}

// LogStore keeps runs' logs, as numbered chunks, and the numbers of their
// stored events. Appends to one run's log are serialised by the store:
// chunk numbers have no gaps and no repeats, whichever server appends.
type LogStore interface {
	// AppendLog stores data as the next chunk of a run's log and returns
	// its number.
	AppendLog(ctx context.Context, runID, data string) (int64, error)
	// AppendEvents stores text, the log of a run's events after..upTo, as
	// its next chunk and upTo as its last stored event, both or neither,
	// and only if the last stored event is still after: false means
	// another request stored events in between (the caller reads
	// EventsAcked again). That check keeps a resent batch from being
	// stored twice.
	AppendEvents(ctx context.Context, runID string, after, upTo int64, text string) (bool, error)
	// EventsAcked is the number of a run's last stored event (0: none).
	EventsAcked(ctx context.Context, runID string) (int64, error)
	// ReadLog returns a run's chunks after chunk number after, in order
	// (none for an unknown run).
	ReadLog(ctx context.Context, runID string, after int64) ([]record.Chunk, error)
}

// BundleStore keeps bundle manifests.
type BundleStore interface {
	// PutBundle stores a manifest under its id; storing it again renews
	// its stamp, so retention leaves a bundle a new run is about to name.
	PutBundle(ctx context.Context, id string, m api.Manifest) error
	// GetBundle reads a manifest; record.ErrNotFound for none.
	GetBundle(ctx context.Context, id string) (api.Manifest, error)
}

// ArtifactStore keeps the files runs kept: their names, sizes and hashes,
// and the blobs (of the blob store) whose concatenation each is.
type ArtifactStore interface {
	// AddArtifact records an artifact of a run; recording a name again
	// replaces it (a runner that resends after a lost answer).
	AddArtifact(ctx context.Context, runID string, a api.Artifact, chunks []string) error
	// ListArtifacts lists a run's artifacts by name.
	ListArtifacts(ctx context.Context, runID string) ([]api.Artifact, error)
	// GetArtifact returns an artifact and its chunks' hashes in order;
	// record.ErrNotFound for a name the run lacks.
	GetArtifact(ctx context.Context, runID, name string) (api.Artifact, []string, error)

	// ReserveRunChunk records a chunk a run uploads, before its upload,
	// within the run's bounds (record.ErrOverBudget past them); false
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
	// CreateAgent registers an agent's token, the labels it may claim and
	// its bound of runs; a revoked agent's name can be taken again, a live
	// one's not (record.ErrExists).
	CreateAgent(ctx context.Context, name, tokenHash string, allowed map[string]string, maxConcurrency int) error
	// AgentOfToken and AgentByName find an agent; record.ErrNotFound for
	// none.
	AgentOfToken(ctx context.Context, tokenHash string) (record.Agent, error)
	AgentByName(ctx context.Context, name string) (record.Agent, error)
	// ListAgents lists the agents by name.
	ListAgents(ctx context.Context) ([]record.Agent, error)
	// RevokeAgent revokes an agent's token and ends its runs' tokens;
	// record.ErrNotFound if no agent with a token has that name. Safe to
	// repeat.
	RevokeAgent(ctx context.Context, name string) error
	// AgentSeen records what an agent said of itself, from where, and
	// when (the database's clock on PostgreSQL).
	AgentSeen(ctx context.Context, a api.Agent) error
	// AgentSilences tells, for every live agent with a recorded contact,
	// how long ago that was, measured by the clock that stamped it.
	AgentSilences(ctx context.Context) (map[string]time.Duration, error)
	// EnsureAgent registers an agent without a token (a server's own), so
	// that the other servers see its contact; idempotent.
	EnsureAgent(ctx context.Context, name string) error
}

// ProjectStore keeps projects' operator settings (jetway projects), which
// only the API token changes, and hands runs their project's Docker
// policy. Every call is safe to repeat and to make concurrently, from any
// server of a shared database.
type ProjectStore interface {
	// GetProject returns record.ErrNotFound for a project without
	// settings: it has the strict default.
	GetProject(ctx context.Context, name string) (api.Project, error)
	// PutProject replaces a project's settings (checked by the caller)
	// and returns them as stored, with the time of the change.
	PutProject(ctx context.Context, p api.Project) (api.Project, error)
	// ListProjects lists the projects with settings, by name.
	ListProjects(ctx context.Context) ([]api.Project, error)
	// DeleteProject puts a project back on the strict default;
	// record.ErrNotFound if it had no settings.
	DeleteProject(ctx context.Context, name string) error
	// GrantDockerPolicy records with a run the policy its project has at
	// this moment and returns it (record.ErrNotFound for an unknown
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
	// AddHost returns record.ErrExists for a name taken.
	AddHost(ctx context.Context, h api.DockerHost) (api.DockerHost, error)
	// PutHost replaces a host's settings but draining; a new URL or new
	// credentials forget its state. record.ErrNotFound for an unknown
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
	// built on. record.ErrNotFound for an unknown run.
	AssignDockerHost(ctx context.Context, runID, dockerfile string, a api.AssignedHost) error
	SetBuiltOn(ctx context.Context, runID, host string) error
	// PoolKeys lists the affinity keys that ran in each pool, among the
	// runs kept.
	PoolKeys(ctx context.Context) ([]record.PoolKey, error)
}

// SessionStore keeps the dashboard's sessions, by a digest of their ID.
type SessionStore interface {
	// CreateSession stores a session (and forgets the expired ones).
	CreateSession(ctx context.Context, s record.Session) error
	// LookupSession finds a live session: false for an expired, revoked
	// or unknown one.
	LookupSession(ctx context.Context, idHash string) (record.Session, bool, error)
	// RevokeSession ends a session; idempotent.
	RevokeSession(ctx context.Context, idHash string) error
}

// TokenStore keeps the API tokens of people and machines (jetway tokens)
// by a digest of each; the server's own token is not among them.
type TokenStore interface {
	// CreateToken returns record.ErrExists for a name or digest taken.
	CreateToken(ctx context.Context, t record.Token) error
	// TokenByHash returns record.ErrNotFound for a digest of no token
	// (never made, or revoked).
	TokenByHash(ctx context.Context, hash string) (record.Token, error)
	// ListTokens lists the live tokens by name.
	ListTokens(ctx context.Context) ([]record.Token, error)
	// RevokeToken revokes a token (its row stays, so its use is refused
	// by name): record.ErrNotFound for none.
	RevokeToken(ctx context.Context, name string) error
	// TouchToken records that a token was used at t.
	TouchToken(ctx context.Context, hash string, t time.Time) error
}

// AuditLog keeps the audit log: appended to, listed, and pruned by
// retention only.
type AuditLog interface {
	// AppendAudit adds an entry, numbered and stamped by the store if it
	// is not.
	AppendAudit(ctx context.Context, e api.AuditEntry) error
	// ListAudit lists entries at or after since with seq > after, oldest
	// first, at most limit.
	ListAudit(ctx context.Context, since time.Time, after int64, limit int) ([]api.AuditEntry, error)
	// PruneAudit deletes the entries older than cutoff; how many.
	PruneAudit(ctx context.Context, cutoff time.Time) (int, error)
}

// BlobStore keeps blobs in the database, when servers share one, by the
// SHA-256 of their content (which the caller has checked).
type BlobStore interface {
	// HasBlob tells whether a blob is stored. Asking means it is about to
	// be named again: an old blob's stamp is renewed (see
	// record.BlobTouchAge), so retention leaves it.
	HasBlob(ctx context.Context, hash string) (bool, error)
	// BlobSize is a stored blob's size; record.ErrNotFound for none.
	BlobSize(ctx context.Context, hash string) (int64, error)
	// PutBlob stores content under hash unless it is stored already; the
	// blob appears whole or not at all, so concurrent puts are safe.
	PutBlob(ctx context.Context, hash string, content io.Reader) error
	// OpenBlob streams a stored blob; record.ErrNotFound for none.
	OpenBlob(ctx context.Context, hash string) (io.ReadCloser, error)
	// DeleteBlob removes a blob stamped before before (zero: any).
	DeleteBlob(ctx context.Context, hash string, before time.Time) (bool, error)
}

// Retainer prunes what retention lets go. Every server may prune at any
// time: each call is safe to repeat and to race with another.
type Retainer interface {
	// PruneRuns deletes the ended runs beyond the newest keep (0: no
	// bound) or ended before cutoff (zero: no bound), with their logs;
	// how many. Queued and active runs stay.
	PruneRuns(ctx context.Context, keep int, cutoff time.Time) (int, error)
	// PruneBundles deletes the manifests no run names that were stored
	// before cutoff, and returns the hashes of the blobs still named (by
	// the manifests and the kept runs' artifacts): those to keep.
	PruneBundles(ctx context.Context, cutoff time.Time) (map[string]bool, error)
	// PruneBlobs deletes the stored blobs not in keep stored before
	// cutoff (a newer one may belong to an upload in progress); how many.
	PruneBlobs(ctx context.Context, keep map[string]bool, cutoff time.Time) (int, error)
}

// Peers are the other servers of a shared database.
type Peers interface {
	// Shared tells whether other servers may use the database
	// (PostgreSQL); on SQLite this server is alone.
	Shared() bool
	// Publish tells every server of the database, this one included,
	// payload; best effort: a listener reconnecting misses it. Nothing on
	// SQLite.
	Publish(ctx context.Context, payload string) error
	// Listen calls fn with every payload published until ctx ends, from
	// one goroutine. After a lost connection it reconnects (saying so in
	// log) and calls fn("") once: whatever was published meanwhile is
	// lost, so the caller wakes everyone. On SQLite it returns at once.
	Listen(ctx context.Context, log *slog.Logger, fn func(payload string))
	// Setting returns the stored value of name, setting it to value when
	// it has none: the first server to start decides, the others learn.
	Setting(ctx context.Context, name, value string) (string, error)
	// LookupSetting returns the stored value of name, if any.
	LookupSetting(ctx context.Context, name string) (string, bool, error)
}

// Store is all of it, and Close, which ends every use: call it once
// nothing else calls the store.
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

type webSession = web.Session

// dbSessions keeps the dashboard's sessions in the store, by a digest of
// their ID, so that they survive a restart and work on every server;
// their CSRF tokens, derived from the ID, are not kept.
type dbSessions struct{ store SessionStore }

func (d dbSessions) Create(ctx context.Context, s webSession) error {
	return d.store.CreateSession(ctx, record.Session{IDHash: hashToken(s.ID), Token: s.Token, Expires: s.Expires})
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
