// Package record defines what the server keeps about runs, agents, API
// tokens and dashboard sessions, and the errors its storage answers with.
// It is the vocabulary of the storage interfaces that internal/server
// declares and internal/store implements, so that neither imports the
// other: the server is given any implementation, the store needs nothing
// of the server.
package record

import (
	"errors"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// The errors a store answers with; callers test them with errors.Is.
var (
	// ErrNotFound: the run, bundle, agent, token, project, host, artifact
	// or setting asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists refuses a name that is taken.
	ErrExists = errors.New("exists already")
	// ErrOverBudget refuses a chunk beyond its run's upload bounds.
	ErrOverBudget = errors.New("over the run's upload bounds")
	// ErrRotated: another rotation of the OIDC signing key made its signer
	// in between; the caller may rotate again.
	ErrRotated = errors.New("another rotation of the OIDC key happened at the same time")
	// ErrNoSealer refuses a key to be stored by a store without a sealer:
	// a signing key is never stored in the clear.
	ErrNoSealer = errors.New("the store has no master key to seal OIDC signing keys with")
)

// BlobTouchAge is how old a blob's stamp may grow before a look at it
// renews it (in the database, and in a server's data dir): retention
// drops blobs by their stamp, so a blob in use must be stamped again now
// and then, and no more often than that.
const BlobTouchAge = time.Hour

// Run is a run with what only the server and its runner see.
type Run struct {
	api.Run
	ProjectFile string
	Pass        map[string]string
	// Attempts counts the leases the run had.
	Attempts int
	// CancelRequested: a user asked to stop the run; its agent is told at
	// its next heartbeat.
	CancelRequested bool
	// RunsOn are the labels an agent needs to take the run; nil for a run
	// stored before they were, whose ProjectFile says.
	RunsOn map[string]string
	// RunVars are the variables given for the run, values as given (Run.Vars
	// is how they may be shown).
	RunVars map[string]string
	// DockerHost is the host of its project's pool the server chose for
	// the run when its runner fetched its spec (nil before, and outside a
	// pool); BuiltOn is the host the run's summary says it built on.
	DockerHost *api.AssignedHost
	BuiltOn    string
	// Grants are the globs of the references the run may resolve, those of
	// the token that started it; nil: any (an admin's run).
	Grants []string
}

// BuildingOn is the Docker host of the pool an active run builds on: the
// one its summary named, else the first the server handed it (the runner
// tries that one first); "" outside a pool.
func (r Run) BuildingOn() string {
	switch {
	case r.BuiltOn != "":
		return r.BuiltOn
	case r.DockerHost != nil && len(r.DockerHost.Candidates) > 0:
		return r.DockerHost.Candidates[0].Name
	}
	return ""
}

// Chunk is a stored piece of a run's log, numbered from 1 in the order
// it was appended.
type Chunk struct {
	Seq  int64
	Data string
}

// Agent is an agent with its token's hash.
type Agent struct {
	api.Agent
	TokenHash string
}

// Token is an API token (jetway tokens) with the digest it is found by.
type Token struct {
	api.Token
	Hash string
	// RevokedAt is when the token was revoked; nil while it is live.
	RevokedAt *time.Time
}

// Session is a dashboard session, kept by a digest of its ID. Its CSRF
// token is derived from its ID, which only the browser holds: neither is
// stored.
type Session struct {
	IDHash, Token string
	Expires       time.Time
}

// PoolKey is one affinity key that ran in a pool: a project and the
// Dockerfile it builds.
type PoolKey struct {
	Pool, Project, Dockerfile string
}
