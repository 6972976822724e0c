package store

import "github.com/jetway-dev/jetway/internal/record"

// The store's names for the records and errors of package record, which
// its callers' interfaces are declared with.
type (
	StoredRun     = record.Run
	Chunk         = record.Chunk
	StoredAgent   = record.Agent
	StoredToken   = record.Token
	StoredSession = record.Session
	PoolKey       = record.PoolKey
)

var (
	ErrNotFound   = record.ErrNotFound
	ErrExists     = record.ErrExists
	ErrOverBudget = record.ErrOverBudget
	ErrRotated    = record.ErrRotated
	ErrNoSealer   = record.ErrNoSealer
)

// BlobTouchAge is record.BlobTouchAge.
const BlobTouchAge = record.BlobTouchAge
