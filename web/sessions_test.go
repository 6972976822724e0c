package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// signInTo signs in to d and returns the session cookie.
func signInTo(t *testing.T, d *Dashboard, token string) *http.Cookie {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("sign in: %d %v", rec.Code, cookies)
	}
	return cookies[0]
}

// signedIn reports whether the cookie opens the dashboard's pages.
func signedIn(d *Dashboard, c *http.Cookie) bool {
	req := httptest.NewRequest(http.MethodGet, "/params", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	return rec.Code == http.StatusOK
}

// noParams is a Source for the parameters page alone, whose one token
// is token.
type noParams struct {
	Source
	token string
}

func (noParams) ListParams(context.Context) ([]api.ParamInfo, error)   { return nil, nil }
func (noParams) ListSecrets(context.Context) ([]api.SecretInfo, error) { return nil, nil }

func (n noParams) SignIn(_ context.Context, token string) (Identity, string, error) {
	if token != n.token {
		return Identity{}, "", ErrBadToken
	}
	return Identity{Name: "admin", Role: api.RoleAdmin}, "key-of-" + token, nil
}

func (n noParams) Identify(_ context.Context, key string) (Identity, error) {
	if key != "key-of-"+n.token {
		return Identity{}, ErrBadToken
	}
	return Identity{Name: "admin", Role: api.RoleAdmin}, nil
}

func newTestDashboard(t *testing.T, token string, sessions Sessions) *Dashboard {
	t.Helper()
	d, err := New(Options{Source: noParams{token: token}, Secret: token, Sessions: sessions})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A session opened with one API token is refused once the server runs with
// another, even where sessions outlive the server process.
func TestANewTokenEndsEverySession(t *testing.T) {
	sessions := NewMemorySessions()
	before := newTestDashboard(t, "jw_old", sessions)
	cookie := signInTo(t, before, "jw_old")
	if !signedIn(before, cookie) {
		t.Fatal("not signed in")
	}
	after := newTestDashboard(t, "jw_new", sessions)
	if signedIn(after, cookie) {
		t.Error("a session of the old token opened the dashboard of the new one")
	}
}

// Sessions end SessionTTL after sign-in, however much they are used.
func TestSessionsExpire(t *testing.T) {
	sessions := NewMemorySessions()
	start := time.Now()
	now := start
	sessions.now = func() time.Time { return now }
	d := newTestDashboard(t, "jw_t", sessions)
	d.now = sessions.now
	cookie := signInTo(t, d, "jw_t")
	if cookie.MaxAge != int(SessionTTL.Seconds()) {
		t.Errorf("cookie Max-Age %d", cookie.MaxAge)
	}
	for _, step := range []time.Duration{time.Hour, 10 * time.Hour, 59 * time.Minute} {
		now = now.Add(step)
		if !signedIn(d, cookie) {
			t.Fatalf("signed out %s after sign-in", now.Sub(start))
		}
	}
	now = now.Add(time.Minute)
	if signedIn(d, cookie) {
		t.Error("a session outlived SessionTTL")
	}
	if n := len(sessions.sessions); n != 0 {
		t.Errorf("%d expired sessions kept", n)
	}
}

func TestMemorySessions(t *testing.T) {
	ctx := context.Background()
	m := NewMemorySessions()
	a, b := newSession("fp", time.Now()), newSession("fp", time.Now())
	if len(a.ID) != 64 || a.ID == b.ID {
		t.Fatalf("sessions %+v %+v", a, b)
	}
	for _, s := range []Session{a, b} {
		if err := m.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for k := range m.sessions {
		if string(k[:]) == a.ID || string(k[:]) == b.ID {
			t.Error("the store holds a session id")
		}
	}
	if err := m.Revoke(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, a.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if _, ok, _ := m.Lookup(ctx, a.ID); ok {
		t.Error("a revoked session was found")
	}
	if got, ok, _ := m.Lookup(ctx, b.ID); !ok || got.ID != b.ID || got.Token != b.Token || !got.Expires.Equal(b.Expires) {
		t.Errorf("the other session: %+v %v", got, ok)
	}
	if _, ok, _ := m.Lookup(ctx, ""); ok {
		t.Error("the empty id was found")
	}
}
