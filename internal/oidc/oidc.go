// Package oidc makes jetway's server an OpenID Connect issuer for runs: a
// run whose jetway.yaml asks for id_tokens gets a JWT per audience, signed
// by a key of the server's, that a cloud (AWS IAM's
// AssumeRoleWithWebIdentity, or any OIDC relying party) trusts in place of
// a stored long-lived credential. The cloud checks the signature against
// the keys the server publishes (the JWKS, found through the discovery
// document at ISSUER/.well-known/openid-configuration), then the token's
// issuer, audience and subject against its own policy.
//
// The package holds the pure parts, without storage or HTTP: RSA key
// generation and its key ID, the signing key set as published, the claims
// of a run's token and its signature (RS256, which every verifier accepts),
// and the discovery document. The server keeps the keys (sealed, in its
// database) and serves the routes.
//
// Rotation: a new key becomes the signer; the key it replaces is retired
// but stays published for RetiredPublished, longer than any token it
// signed lives (MaxLifetime), so that every token issued stays verifiable
// until it expires; after that it may be dropped.
//
//	k, _ := oidc.GenerateKey(time.Now())
//	jwt, _ := oidc.Sign(k, oidc.Claims{Issuer: "https://jetway.example.com", Audience: "sts.amazonaws.com",
//		Subject: oidc.Subject("hello", "prod"), ...})
//	set := oidc.JWKS([]oidc.Key{k}, time.Now())
package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxLifetime is the longest a run's token lives; a run whose timeout
// ends sooner gets a token that expires with it.
const MaxLifetime = time.Hour

// clockSkew is how far a verifier's clock may be off: a retired key stays
// published this much longer than its last token could live.
const clockSkew = 5 * time.Minute

// RetiredPublished is how long a key stays published after a newer key
// replaced it as the signer.
const RetiredPublished = MaxLifetime + clockSkew

// Algorithm is the signature algorithm of every token: RS256.
const Algorithm = jose.RS256

// keyBits is the size of a signing key: AWS IAM and the OIDC verifiers
// take RSA keys of 2048 bits and more.
const keyBits = 2048

// Key is one of the issuer's signing keys.
type Key struct {
	// ID is the key's "kid": the RFC 7638 thumbprint of its public key
	// (SHA-256, base64url), so a key's ID is the same on every server.
	ID      string
	Private *rsa.PrivateKey
	// CreatedAt is when the key was made; RetiredAt when a newer key
	// replaced it as the signer (nil for the signer).
	CreatedAt time.Time
	RetiredAt *time.Time
}

// GenerateKey makes a new RSA signing key, created at now.
func GenerateKey(now time.Time) (Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return Key{}, fmt.Errorf("generating an OIDC signing key: %w", err)
	}
	id, err := keyID(&priv.PublicKey)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, Private: priv, CreatedAt: now.UTC()}, nil
}

func keyID(pub *rsa.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("the OIDC key's thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// MarshalPrivate is the key's private half as PKCS #8 DER, to be sealed
// before it is stored.
func (k Key) MarshalPrivate() ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(k.Private)
}

// ParseKey reads a key stored as MarshalPrivate made it, under its ID;
// an ID that is not the key's thumbprint is an error.
func ParseKey(id string, der []byte, created time.Time, retired *time.Time) (Key, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("OIDC key %s: %w", id, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return Key{}, fmt.Errorf("OIDC key %s is a %T, not an RSA key", id, parsed)
	}
	got, err := keyID(&priv.PublicKey)
	if err != nil {
		return Key{}, err
	}
	if got != id {
		return Key{}, fmt.Errorf("OIDC key %s holds the key %s", id, got)
	}
	return Key{ID: id, Private: priv, CreatedAt: created, RetiredAt: retired}, nil
}

// Published tells whether the key belongs in the JWKS at now: it signs,
// or a token it signed may still be alive.
func (k Key) Published(now time.Time) bool {
	return k.RetiredAt == nil || now.Before(k.RetiredAt.Add(RetiredPublished))
}

// JWKS is the published key set: the public halves of the keys published
// at now, in the order given.
func JWKS(keys []Key, now time.Time) jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		if !k.Published(now) {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.ID, Algorithm: string(Algorithm), Use: "sig"})
	}
	return set
}

// Claims are what a run's token says of the run. The server computes
// every one of them from the run it stored, never from what a runner asks.
type Claims struct {
	Issuer   string
	Audience string
	// Subject is Subject(Project, Env).
	Subject   string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	// ID is the token's "jti", unique per token.
	ID string

	Project string
	Env     string
	RunID   string
	// Token is the name of the API token that started the run ("" if the
	// server does not know it).
	Token string
	// GitCommit and GitRef are the checkout's commit and branch as the
	// deployer's client found them; "" outside git.
	GitCommit string
	GitRef    string
}

// Subject is a run's "sub": project:PROJECT:env:ENV (env may be empty).
func Subject(project, env string) string { return "project:" + project + ":env:" + env }

// runClaims are the claims beyond the registered ones, as JSON names
// them; the empty ones are left out.
type runClaims struct {
	Project   string `json:"project"`
	Env       string `json:"env"`
	RunID     string `json:"run_id"`
	Token     string `json:"token,omitempty"`
	GitCommit string `json:"git_commit,omitempty"`
	GitRef    string `json:"git_ref,omitempty"`
}

// Sign issues the token of c, signed by k (RS256, the key's ID in the
// header's kid).
func Sign(k Key, c Claims) (string, error) {
	switch {
	case c.Issuer == "" || c.Audience == "" || c.Subject == "":
		return "", errors.New("an OIDC token needs an issuer, an audience and a subject")
	case !c.Expiry.After(c.IssuedAt):
		return "", errors.New("an OIDC token must expire after it is issued")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: k.Private},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), k.ID))
	if err != nil {
		return "", err
	}
	registered := jwt.Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.Audience{c.Audience}, ID: c.ID,
		IssuedAt: jwt.NewNumericDate(c.IssuedAt), NotBefore: jwt.NewNumericDate(c.NotBefore), Expiry: jwt.NewNumericDate(c.Expiry)}
	extra := runClaims{Project: c.Project, Env: c.Env, RunID: c.RunID, Token: c.Token, GitCommit: c.GitCommit, GitRef: c.GitRef}
	return jwt.Signed(signer).Claims(registered).Claims(extra).Serialize()
}

// Lifetime is how long a token issued at now lives for a run that must
// end by deadline: until the deadline, at most MaxLifetime; zero or less
// once the deadline has passed.
func Lifetime(now, deadline time.Time) time.Duration {
	return min(deadline.Sub(now), MaxLifetime)
}

// GitRef is the "git_ref" of a branch: refs/heads/BRANCH; "" for none.
func GitRef(branch string) string {
	if branch == "" || strings.HasPrefix(branch, "refs/") {
		return branch
	}
	return "refs/heads/" + branch
}

// Paths of the issuer's documents, beneath its URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Document is the OpenID Provider metadata of the issuer (OpenID Connect
// Discovery 1.0, section 3), the fields a verifier reads.
type Document struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
	ScopesSupported                  []string `json:"scopes_supported"`
}

// Discovery is the document of the issuer at issuer (its URL, without a
// final /).
func Discovery(issuer string) Document {
	return Document{
		Issuer:                           issuer,
		JWKSURI:                          issuer + JWKSPath,
		ResponseTypesSupported:           []string{"id_token"},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{string(Algorithm)},
		ClaimsSupported:                  []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "project", "env", "run_id", "token", "git_commit", "git_ref"},
		ScopesSupported:                  []string{"openid"},
	}
}
