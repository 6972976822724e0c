package oidc

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

func newKey(t *testing.T, now time.Time) Key {
	t.Helper()
	k, err := GenerateKey(now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func claims(now time.Time) Claims {
	return Claims{Issuer: "https://jetway.example.com", Audience: "sts.amazonaws.com", Subject: Subject("hello", "prod"),
		IssuedAt: now, NotBefore: now, Expiry: now.Add(10 * time.Minute), ID: "jti-1",
		Project: "hello", Env: "prod", RunID: "r1", Token: "ci", GitCommit: "abc123", GitRef: GitRef("main")}
}

// verifier is go-oidc's, over the public keys given.
func verifier(issuer, aud string, now time.Time, keys ...Key) *gooidc.IDTokenVerifier {
	var pubs []crypto.PublicKey
	for _, k := range keys {
		pubs = append(pubs, &k.Private.PublicKey)
	}
	return gooidc.NewVerifier(issuer, &gooidc.StaticKeySet{PublicKeys: pubs},
		&gooidc.Config{ClientID: aud, SupportedSigningAlgs: []string{"RS256"}, Now: func() time.Time { return now }})
}

func TestSignedTokenVerifiesWithItsClaims(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	k := newKey(t, now)
	raw, err := Sign(k, claims(now))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := verifier("https://jetway.example.com", "sts.amazonaws.com", now, k).Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if tok.Subject != "project:hello:env:prod" || !tok.Expiry.Equal(now.Add(10*time.Minute)) || !tok.IssuedAt.Equal(now) {
		t.Fatalf("token %+v", tok)
	}
	var got map[string]any
	if err := tok.Claims(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"project": "hello", "env": "prod", "run_id": "r1", "token": "ci", "git_commit": "abc123", "git_ref": "refs/heads/main",
		"jti": "jti-1", "aud": "sts.amazonaws.com", "iss": "https://jetway.example.com", "nbf": float64(now.Unix())}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("claim %s = %v, want %v", name, got[name], v)
		}
	}
	// The header names the key, as JWKS verifiers need.
	header, _, _ := strings.Cut(raw, ".")
	if !strings.Contains(decodeSegment(t, header), `"kid":"`+k.ID+`"`) {
		t.Errorf("header %s lacks kid %s", decodeSegment(t, header), k.ID)
	}
}

func decodeSegment(t *testing.T, s string) string {
	t.Helper()
	var v map[string]any
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func TestVerificationRefuses(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	k, other := newKey(t, now), newKey(t, now)
	raw, err := Sign(k, claims(now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		v    *gooidc.IDTokenVerifier
	}{
		{"another key", verifier("https://jetway.example.com", "sts.amazonaws.com", now, other)},
		{"another audience", verifier("https://jetway.example.com", "other", now, k)},
		{"another issuer", verifier("https://other.example.com", "sts.amazonaws.com", now, k)},
		{"expired", verifier("https://jetway.example.com", "sts.amazonaws.com", now.Add(11*time.Minute), k)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.v.Verify(ctx, raw); err == nil {
				t.Fatal("verified")
			}
		})
	}
}

func TestSignRefusesIncompleteClaims(t *testing.T) {
	now := time.Now()
	k := newKey(t, now)
	for name, change := range map[string]func(*Claims){
		"no issuer":   func(c *Claims) { c.Issuer = "" },
		"no audience": func(c *Claims) { c.Audience = "" },
		"no subject":  func(c *Claims) { c.Subject = "" },
		"expired":     func(c *Claims) { c.Expiry = c.IssuedAt },
	} {
		c := claims(now)
		change(&c)
		if _, err := Sign(k, c); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

func TestKeyRoundTrip(t *testing.T) {
	now := time.Now().UTC()
	k, other := newKey(t, now), newKey(t, now)
	der, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKey(k.ID, der, now, nil)
	if err != nil || !back.Private.Equal(k.Private) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := ParseKey(other.ID, der, now, nil); err == nil {
		t.Fatal("a key stored under another key's ID was read")
	}
	if _, err := ParseKey(k.ID, der[:len(der)-1], now, nil); err == nil {
		t.Fatal("a damaged key was read")
	}
	if len(k.ID) != 43 || k.ID == other.ID {
		t.Fatalf("IDs %q %q: want distinct SHA-256 thumbprints", k.ID, other.ID)
	}
}

// A retired key stays in the JWKS for longer than its tokens live, then
// leaves it.
func TestJWKSPublishesRetiredKeysWhileTheirTokensLive(t *testing.T) {
	now := time.Now()
	signer, retired := newKey(t, now), newKey(t, now.Add(-time.Hour))
	at := now.Add(-time.Minute)
	retired.RetiredAt = &at
	ids := func(at time.Time) []string {
		var out []string
		for _, k := range JWKS([]Key{signer, retired}, at).Keys {
			if k.Algorithm != "RS256" || k.Use != "sig" || !k.IsPublic() {
				t.Errorf("key %s: alg %s use %s public %v", k.KeyID, k.Algorithm, k.Use, k.IsPublic())
			}
			out = append(out, k.KeyID)
		}
		return out
	}
	if got := ids(now); len(got) != 2 {
		t.Fatalf("just retired: %v", got)
	}
	// A token the retired key signed just before it retired lives until
	// at+MaxLifetime; the key outlives it.
	if got := ids(at.Add(MaxLifetime)); len(got) != 2 {
		t.Fatalf("while its last token lives: %v", got)
	}
	if got := ids(at.Add(RetiredPublished)); len(got) != 1 || got[0] != signer.ID {
		t.Fatalf("after: %v", got)
	}
	b, _ := json.Marshal(JWKS([]Key{signer}, now))
	if strings.Contains(string(b), `"d":`) || strings.Contains(string(b), `"p":`) {
		t.Fatalf("the JWKS holds a private part: %s", b)
	}
}

func TestLifetime(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		deadline time.Time
		want     time.Duration
	}{
		{"a long run", now.Add(5 * time.Hour), MaxLifetime},
		{"a short run", now.Add(20 * time.Minute), 20 * time.Minute},
		{"past its timeout", now.Add(-time.Second), -time.Second},
	} {
		if got := Lifetime(now, tc.deadline); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	d := Discovery("https://jetway.example.com")
	if d.JWKSURI != "https://jetway.example.com/.well-known/jwks.json" || d.IDTokenSigningAlgValuesSupported[0] != "RS256" {
		t.Fatalf("%+v", d)
	}
}
