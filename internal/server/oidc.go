package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/oidc"
	"github.com/jetway-dev/jetway/internal/record"
)

// The server is an OpenID Connect issuer for runs (package oidc): a run
// whose project file has id_tokens asks for its tokens with its run token,
// and the server signs each with claims it computes from the run it
// stored, never from what the runner asks. The discovery document and the
// JWKS are public, at the issuer's URL (Options.PublicURL), so that a
// cloud can verify the tokens without a credential.

// OIDCKeyStore keeps the issuer's signing keys, sealed, for every server
// of the database; internal/store implements it on both engines. Every
// call is safe to make concurrently from any server.
type OIDCKeyStore interface {
	// OIDCKeys lists the keys: the signer first, then the retired ones,
	// newest first.
	OIDCKeys(ctx context.Context) ([]oidc.Key, error)
	// EnsureOIDCKey stores k as the signer if there is none, and returns
	// the signer (k, or the key another server stored first).
	EnsureOIDCKey(ctx context.Context, k oidc.Key) (oidc.Key, error)
	// RotateOIDCKey makes k the signer, retires the one it replaces and
	// drops those retired before dropBefore; record.ErrRotated when a
	// concurrent rotation won.
	RotateOIDCKey(ctx context.Context, k oidc.Key, dropBefore time.Time) (int, error)
}

func (s *Server) oidcRoutes(mux *http.ServeMux) {
	// Public: a cloud verifying a token has no credential of the server.
	mux.HandleFunc("GET "+oidc.DiscoveryPath, s.oidcDiscovery)
	mux.HandleFunc("GET "+oidc.JWKSPath, s.oidcJWKS)
	mux.Handle("POST /v1/runs/{id}/id-tokens", s.runAuthed(afterEndRefused, s.issueIDTokens))
	mux.Handle("POST /v1/oidc/rotate", s.allow(rightAdmin, s.rotateOIDCKey))
}

// checkPublicURL checks the issuer URL an operator gave (--public-url)
// and returns it without a final /: the "iss" of tokens and the base of
// the discovery document. "" stays "": the server issues no token.
func checkPublicURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("public URL %q: give the URL clients and clouds reach the server at, http(s)://HOST[:PORT][/PATH], without a query", raw)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// oidcStore is the store's key store; nil (and an answer already written)
// if the server has no public URL.
func (s *Server) oidcStore(w http.ResponseWriter) OIDCKeyStore {
	if s.publicURL == "" {
		writeError(w, http.StatusServiceUnavailable, "the server issues no OIDC tokens: it was started without a public URL (jetway server --public-url)")
		return nil
	}
	return s.runs
}

// oidcKeys returns the issuer's keys, the signer first, making the
// signer if there is none yet (the first server to store one wins; all
// sign with it).
func (s *Server) oidcKeys(ctx context.Context, store OIDCKeyStore) ([]oidc.Key, error) {
	keys, err := store.OIDCKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 && keys[0].RetiredAt == nil {
		return keys, nil
	}
	k, err := oidc.GenerateKey(time.Now())
	if err != nil {
		return nil, err
	}
	if _, err := store.EnsureOIDCKey(ctx, k); err != nil {
		return nil, err
	}
	return store.OIDCKeys(ctx)
}

func (s *Server) oidcDiscovery(w http.ResponseWriter, _ *http.Request) {
	if s.oidcStore(w) == nil {
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, oidc.Discovery(s.publicURL))
}

func (s *Server) oidcJWKS(w http.ResponseWriter, r *http.Request) {
	store := s.oidcStore(w)
	if store == nil {
		return
	}
	keys, err := s.oidcKeys(r.Context(), store)
	if err != nil {
		s.log.Error("reading the OIDC keys", "err", err)
		writeError(w, http.StatusInternalServerError, "reading the signing keys failed; the server's log says why")
		return
	}
	// Short: a verifier that cached the set before a rotation meets the
	// new key within a minute (go-oidc and AWS also fetch again on an
	// unknown kid).
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, oidc.JWKS(keys, time.Now()))
}

// issueIDTokens signs the tokens of the run's id_tokens, as its project
// file stored with the run says. Each expires by the run's timeout (from
// its start), within oidc.MaxLifetime.
func (s *Server) issueIDTokens(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupRun(w, r)
	if !ok {
		return
	}
	p, err := config.ParseWithVars(config.FileName, []byte(run.ProjectFile), run.RunVars)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "run %s's project file: %v", run.ID, err)
		return
	}
	out := api.IDTokensResponse{Tokens: map[string]string{}}
	if len(p.IDTokens) == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	store := s.oidcStore(w)
	if store == nil {
		return
	}
	now := time.Now().Truncate(time.Second)
	start := run.CreatedAt
	if run.StartedAt != nil {
		start = *run.StartedAt
	}
	life := oidc.Lifetime(now, start.Add(p.Timeout))
	if life < time.Second {
		writeError(w, http.StatusConflict, "run %s is past its timeout (%s from its start): it gets no token", run.ID, p.Timeout)
		return
	}
	keys, err := s.oidcKeys(r.Context(), store)
	if err != nil {
		s.log.Error("reading the OIDC keys", "run", run.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "reading the signing key failed; the server's log says why")
		return
	}
	for _, t := range p.IDTokens {
		jwt, err := oidc.Sign(keys[0], oidc.Claims{Issuer: s.publicURL, Audience: t.Audience, Subject: oidc.Subject(run.Project, run.Env),
			IssuedAt: now, NotBefore: now, Expiry: now.Add(life), ID: newID(16),
			Project: run.Project, Env: run.Env, RunID: run.ID, Token: run.Token, GitCommit: run.Git.SHA, GitRef: oidc.GitRef(run.Git.Branch)})
		if err != nil {
			writeError(w, http.StatusInternalServerError, "signing id_tokens.%s: %v", t.Name, err)
			return
		}
		out.Tokens[t.Name] = jwt
	}
	s.log.Info("OIDC tokens issued", "run", run.ID, "project", run.Project, "tokens", len(out.Tokens), "kid", keys[0].ID, "expires", now.Add(life))
	writeJSON(w, http.StatusOK, out)
}

// rotateOIDCKey makes a new signing key. The one it replaces stays in the
// JWKS for oidc.RetiredPublished, so that the tokens it signed verify
// until they expire; keys retired longer ago are dropped.
func (s *Server) rotateOIDCKey(w http.ResponseWriter, r *http.Request) {
	store := s.oidcStore(w)
	if store == nil {
		return
	}
	ctx := r.Context()
	var k oidc.Key
	var dropped int
	var err error
	for range 3 {
		if k, err = oidc.GenerateKey(time.Now()); err != nil {
			break
		}
		dropped, err = store.RotateOIDCKey(ctx, k, k.CreatedAt.Add(-oidc.RetiredPublished))
		if !errors.Is(err, record.ErrRotated) {
			break
		}
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "rotating the OIDC key: %v", err)
		return
	}
	keys, err := store.OIDCKeys(ctx)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the OIDC keys: %v", err)
		return
	}
	now := time.Now()
	out := api.OIDCRotateResponse{Signer: k.ID, Keys: []api.OIDCKey{}, Dropped: dropped}
	for _, key := range keys {
		if !key.Published(now) {
			continue
		}
		info := api.OIDCKey{ID: key.ID, CreatedAt: key.CreatedAt, RetiredAt: key.RetiredAt}
		if key.RetiredAt != nil {
			until := key.RetiredAt.Add(oidc.RetiredPublished)
			info.PublishedUntil = &until
		}
		out.Keys = append(out.Keys, info)
	}
	if !slices.ContainsFunc(out.Keys, func(key api.OIDCKey) bool { return key.ID == k.ID }) {
		writeError(w, http.StatusInternalServerError, "the new OIDC key %s is not among the stored ones", k.ID)
		return
	}
	s.log.Info("OIDC signing key rotated", "kid", k.ID, "dropped", dropped)
	writeJSON(w, http.StatusOK, out)
}
