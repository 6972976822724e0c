package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/record"
)

// The API of jetway tokens and jetway audit: admin only, but for whoami,
// which any token may ask.

func (s *Server) identityRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/whoami", s.allow(rightRead, s.whoami))
	mux.Handle("GET /v1/tokens", s.allow(rightAdmin, s.listTokens))
	mux.Handle("POST /v1/tokens", s.allow(rightAdmin, s.createToken))
	mux.Handle("DELETE /v1/tokens/{name}", s.allow(rightAdmin, s.revokeToken))
	mux.Handle("GET /v1/audit", s.allow(rightAdmin, s.listAudit))
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	writeJSON(w, http.StatusOK, api.Whoami{Name: p.Name, Role: p.Role, Projects: p.Projects, Params: p.Params})
}

// tokenNameRE is what a token's name may be: it shows in the audit log
// and in tables, so no spaces or control characters.
var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// maxTokenLife bounds --expires: a token that must outlive ten years
// should not expire at all.
const maxTokenLife = 10 * 365 * 24 * time.Hour

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req api.NewTokenRequest
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case !tokenNameRE.MatchString(req.Name):
		writeError(w, http.StatusBadRequest, "token name %q: use up to 64 letters, digits and . _ @ -, starting with a letter or digit", req.Name)
		return
	case req.Name == api.AdminTokenName:
		writeError(w, http.StatusBadRequest, "the name %q is the server's own token's; choose another", req.Name)
		return
	case api.ValidRole(req.Role) != nil:
		writeError(w, http.StatusBadRequest, "%v", api.ValidRole(req.Role))
		return
	case req.ExpiresIn < 0 || time.Duration(req.ExpiresIn)*time.Second > maxTokenLife:
		writeError(w, http.StatusBadRequest, "expires_in must be between 0 (never) and %d seconds", int64(maxTokenLife.Seconds()))
		return
	}
	for _, g := range append(append([]string{}, req.Projects...), req.Params...) {
		if err := validGlob(g); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if req.Role != api.RoleDeployer && req.Role != api.RoleAdmin && len(req.Params) > 0 {
		writeError(w, http.StatusBadRequest, "--params grants references to the runs a token starts; a %s starts none", req.Role)
		return
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	secret := tokenPrefix + hex.EncodeToString(raw[:])
	now := time.Now().UTC()
	t := record.Token{Token: api.Token{Name: req.Name, Role: req.Role, Projects: nonEmpty(req.Projects), Params: nonEmpty(req.Params),
		CreatedBy: principalOf(r.Context()).Name, CreatedAt: now}, Hash: hashToken(secret)}
	if req.ExpiresIn > 0 {
		at := now.Add(time.Duration(req.ExpiresIn) * time.Second)
		t.ExpiresAt = &at
	}
	if err := s.runs.CreateToken(r.Context(), t); err != nil {
		if errors.Is(err, record.ErrExists) {
			writeError(w, http.StatusConflict, "a token named %s exists; revoke it first (jetway tokens revoke %s) or choose another name", req.Name, req.Name)
			return
		}
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	s.auditOK(r, "token.create", req.Name, describeToken(t.Token))
	writeJSON(w, http.StatusCreated, api.NewToken{Token: t.Token, Secret: secret})
}

func nonEmpty(globs []string) []string {
	if len(globs) == 0 {
		return nil
	}
	return globs
}

// describeToken is a token's role and scopes, for the audit log.
func describeToken(t api.Token) string {
	parts := []string{"role=" + t.Role}
	if len(t.Projects) > 0 {
		parts = append(parts, "projects="+strings.Join(t.Projects, ","))
	}
	if len(t.Params) > 0 {
		parts = append(parts, "params="+strings.Join(t.Params, ","))
	}
	if t.ExpiresAt != nil {
		parts = append(parts, "expires="+t.ExpiresAt.Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	stored, err := s.runs.ListTokens(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	out := make([]api.Token, 0, len(stored))
	for _, t := range stored {
		out = append(out, t.Token)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == api.AdminTokenName {
		writeError(w, http.StatusBadRequest, "the server's own token is not revoked here: stop the server, remove the file token of its data dir and start it again, which makes a new one")
		return
	}
	if err := s.runs.RevokeToken(r.Context(), name); err != nil {
		if errors.Is(err, record.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no token named %s; list them with jetway tokens ls", name)
			return
		}
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	s.auditOK(r, "token.revoke", name, "")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since %q is not an RFC 3339 time", v)
			return
		}
		since = t
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	entries, err := s.runs.ListAudit(r.Context(), since, after, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, entries)
}
