package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// SessionTTL is how long a dashboard session lasts after sign-in. The
// expiry is fixed, not sliding: a copied cookie is worth at most this long
// whatever its holder does with it.
const SessionTTL = 12 * time.Hour

// Session is a signed-in browser.
type Session struct {
	// ID is the cookie's value: 32 random bytes, hex.
	ID string
	// CSRF is the token every form of this session carries: an HMAC of
	// ID with a key of the dashboard's (see Dashboard.csrfOf), so no store
	// keeps it, and a page that learns it learns nothing of ID. The
	// dashboard sets it; a Sessions implementation need not keep it.
	CSRF string
	// Token is the key of the API token the session was opened with, as
	// Source.SignIn gave it: the token is asked after at every request,
	// so a session outlives no revocation, expiry or change of it.
	Token   string
	Expires time.Time
	// Who is the token's identity, found again at every request (not
	// stored).
	Who Identity
}

// Sessions keeps the dashboard's sessions. The dashboard calls it from
// many requests at once, so an implementation must be safe for concurrent
// use. Lookup must never return a session after its Expires or after
// Revoke of its ID; Revoke of an unknown or already revoked ID is not an
// error. An implementation may keep a digest of ID rather than ID itself.
type Sessions interface {
	Create(ctx context.Context, s Session) error
	Lookup(ctx context.Context, id string) (Session, bool, error)
	Revoke(ctx context.Context, id string) error
}

// newSession makes a session for the API token key token; its
// CSRF token is the dashboard's to set.
func newSession(token string, now time.Time) Session {
	return Session{ID: randomHex(32), Token: token, Expires: now.Add(SessionTTL)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b)
}

// MemorySessions keeps sessions in memory: a restart of the server signs
// everyone out. It keys them by a SHA-256 of their ID, so a dump of the
// map holds no usable cookie.
type MemorySessions struct {
	mu       sync.Mutex
	sessions map[[sha256.Size]byte]Session
	now      func() time.Time
}

var _ Sessions = (*MemorySessions)(nil)

// NewMemorySessions returns an empty session store.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{sessions: map[[sha256.Size]byte]Session{}, now: time.Now}
}

// Create adds s, and forgets the sessions that have expired.
func (m *MemorySessions) Create(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, old := range m.sessions {
		if !now.Before(old.Expires) {
			delete(m.sessions, k)
		}
	}
	m.sessions[sha256.Sum256([]byte(s.ID))] = s
	return nil
}

// Lookup returns the live session with this ID.
func (m *MemorySessions) Lookup(_ context.Context, id string) (Session, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := sha256.Sum256([]byte(id))
	s, ok := m.sessions[k]
	if !ok {
		return Session{}, false, nil
	}
	if !m.now().Before(s.Expires) {
		delete(m.sessions, k)
		return Session{}, false, nil
	}
	return s, true, nil
}

// Revoke ends the session with this ID.
func (m *MemorySessions) Revoke(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, sha256.Sum256([]byte(id)))
	return nil
}
