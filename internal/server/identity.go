package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/httpstatus"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/record"
)

// Identity: every request to the API bears a token, and the token is
// someone — the server's own admin token, or one of jetway tokens' — with
// a role and scopes. Routes say which right they need (allow); handlers
// check a run's project and references against the token's scopes.

// right is what a route needs of the token it is called with.
type right int

const (
	// rightRead: runs, logs, artifacts, Docker hosts, agents, projects.
	rightRead right = iota
	// rightDeploy: deploy, rerun and stop runs (of the token's projects).
	rightDeploy
	// rightParams: read and write the parameter store.
	rightParams
	// rightAdmin: tokens, agents, Docker hosts, projects' settings, the
	// audit log.
	rightAdmin
)

// String says what a right allows, as refusals name it.
func (r right) String() string {
	switch r {
	case rightRead:
		return "read runs, logs, hosts and agents"
	case rightDeploy:
		return "deploy, rerun and stop runs"
	case rightParams:
		return "read and write the parameter store"
	default:
		return "administer the server (tokens, agents, Docker hosts, projects, audit log)"
	}
}

// roleRights maps each role to what it may do.
var roleRights = map[string][]right{
	api.RoleViewer:   {rightRead},
	api.RoleDeployer: {rightRead, rightDeploy},
	api.RoleAdmin:    {rightRead, rightDeploy, rightParams, rightAdmin},
}

// principal is who a request is made by: the token it bears.
type principal struct {
	Name string
	Role string
	// Projects are globs of the projects it may see and deploy; nil: all.
	Projects []string
	// Params are globs of the references its runs may resolve; nil with
	// the admin role: all.
	Params []string
	// hash is the digest the token is stored by ("" for the server's
	// own token).
	hash string
}

func (p principal) has(r right) bool { return slices.Contains(roleRights[p.Role], r) }

// seesProject tells whether the token may see and act on project name.
func (p principal) seesProject(name string) bool {
	if len(p.Projects) == 0 {
		return true
	}
	for _, g := range p.Projects {
		if matchGlob(g, name) {
			return true
		}
	}
	return false
}

// grants are the globs of the references runs it starts may resolve,
// as a run stores them: nil for any (an admin without --params), else
// the token's globs (none for a deployer without --params).
func (p principal) grants() []string {
	if p.Role == api.RoleAdmin && len(p.Params) == 0 {
		return nil
	}
	return append([]string{}, p.Params...)
}

// mayResolve tells whether grants (as a run stores them) cover ref.
func mayResolve(grants []string, ref config.Ref) bool {
	if grants == nil {
		return true
	}
	for _, g := range grants {
		store, glob := grantStore(g)
		if store != "" && store != ref.Store {
			continue
		}
		if matchGlob(glob, ref.Name) {
			return true
		}
	}
	return false
}

// grantStore splits a grant's store prefix (SSM:, PARAMETER_STORE:,
// SECRET:, SECRETS_MANAGER:, any case) from its glob; no prefix: "" (both
// stores).
func grantStore(g string) (config.Store, string) {
	prefix, rest, ok := strings.Cut(g, ":")
	if !ok {
		return "", g
	}
	switch strings.ToLower(prefix) {
	case "ssm", "parameter_store":
		return config.ParameterStore, rest
	case "secret", "secrets_manager":
		return config.SecretsManager, rest
	}
	return "", g
}

// matchGlob matches a whole name: * any run of characters but /, ** any
// run including /, ? one character but /. A glob that does not compile
// (it cannot: every other character is literal) matches nothing.
func matchGlob(glob, name string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch {
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case glob[i] == '*':
			b.WriteString("[^/]*")
		case glob[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(name)
}

// validGlob checks a glob an admin gives a token.
func validGlob(g string) error {
	if strings.TrimSpace(g) == "" {
		return errors.New("a glob is empty")
	}
	if strings.ContainsAny(g, "\x00\n\r") {
		return fmt.Errorf("glob %q holds a control character", g)
	}
	return nil
}

type principalKey struct{}

// principalOf is the token a request that passed allow bears.
func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// errTokenRefused refuses a token past its expiry or revoked: someone
// holds it, so the refusal is recorded by its name.
type errTokenRefused struct {
	name, why string
	at        time.Time
}

func (e *errTokenRefused) Error() string {
	return fmt.Sprintf("token %s %s at %s; an admin makes a new one with jetway tokens create", e.name, e.why, e.at.UTC().Format(time.RFC3339))
}

// touchEvery bounds how often a token's last use is written: a busy
// client does not turn every request into a write.
const touchEvery = time.Minute

// tokens finds the principal of a bearer token.
type tokens struct {
	store TokenStore
	// admin is the server's own token.
	admin string

	mu      sync.Mutex
	touched map[string]time.Time // by digest
}

func newTokens(store TokenStore, admin string) *tokens {
	return &tokens{store: store, admin: admin, touched: map[string]time.Time{}}
}

// lookup returns the principal of token; record.ErrNotFound for no
// token of the server's, *errTokenRefused for an expired or revoked one.
func (t *tokens) lookup(ctx context.Context, token string) (principal, error) {
	if token == "" {
		return principal{}, record.ErrNotFound
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(t.admin)) == 1 {
		return principal{Name: api.AdminTokenName, Role: api.RoleAdmin}, nil
	}
	if !strings.HasPrefix(token, tokenPrefix) {
		return principal{}, record.ErrNotFound
	}
	return t.byHash(ctx, hashToken(token))
}

// byHash returns the principal of the token with this digest (see
// lookup).
func (t *tokens) byHash(ctx context.Context, hash string) (principal, error) {
	if subtle.ConstantTimeCompare([]byte(hash), []byte(hashToken(t.admin))) == 1 {
		return principal{Name: api.AdminTokenName, Role: api.RoleAdmin}, nil
	}
	st, err := t.store.TokenByHash(ctx, hash)
	if err != nil {
		return principal{}, err
	}
	now := time.Now()
	if st.RevokedAt != nil {
		return principal{Name: st.Name}, &errTokenRefused{name: st.Name, why: "was revoked", at: *st.RevokedAt}
	}
	if st.ExpiresAt != nil && !now.Before(*st.ExpiresAt) {
		return principal{Name: st.Name}, &errTokenRefused{name: st.Name, why: "expired", at: *st.ExpiresAt}
	}
	t.mu.Lock()
	due := now.Sub(t.touched[hash]) >= touchEvery
	if due {
		t.touched[hash] = now
	}
	t.mu.Unlock()
	if due {
		// Last use is for people reading tokens ls; a failed write must
		// not fail the request.
		_ = t.store.TouchToken(ctx, hash, now)
	}
	return principal{Name: st.Name, Role: st.Role, Projects: st.Projects, Params: st.Params, hash: hash}, nil
}

// tokenPrefix starts every token jetway tokens makes (the server's own
// starts jw_, runs' jwr_).
const tokenPrefix = "jwu_"

// bearer is the request's bearer token.
func bearer(r *http.Request) string {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return got
}

// authenticate finds the principal of the request's token, or answers
// 401 (and records a refusal for an expired or revoked token: someone
// holds it).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	p, err := s.tokens.lookup(r.Context(), bearer(r))
	if err == nil {
		return p, true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="jetway"`)
	var refused *errTokenRefused
	switch {
	case errors.As(err, &refused):
		s.audit(r.Context(), p.Name, r.Method+" "+r.URL.Path, "", "token "+refused.why, api.OutcomeRefused)
		writeError(w, http.StatusUnauthorized, "%v", err)
	case errors.Is(err, record.ErrNotFound):
		// Whoever asks learns nothing of the server, not even where the
		// token lives: its owner knows, and jetway login --help says.
		writeError(w, http.StatusUnauthorized, "missing, wrong or revoked token; see jetway login --help")
	default:
		s.log.Error("looking a token up", "err", err)
		writeError(w, http.StatusInternalServerError, "looking the token up: %v", err)
	}
	return p, false
}

// allow requires a token with right need.
func (s *Server) allow(need right, h func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if !p.has(need) {
			s.refuse(w, r, p, "", "token %s (role %s) may not %s; that takes the %s role", p.Name, p.Role, need, roleFor(need))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		action, audited := auditedRoutes[r.Pattern]
		if r.Method == http.MethodGet || r.Method == http.MethodHead || !audited {
			h(w, r)
			return
		}
		note := &auditNote{target: auditTarget(r)}
		rec := httpstatus.New(w)
		h(rec, r.WithContext(context.WithValue(r.Context(), auditNoteKey{}, note)))
		if action != "" && rec.Status() < 400 {
			s.audit(r.Context(), p.Name, action, note.target, note.detail, api.OutcomeOK)
		}
	})
}

// auditedRoutes name the changes the audit log records, by route; ""
// for those whose handler records them itself, with more detail.
var auditedRoutes = map[string]string{
	"POST /v1/params":             "param.put",
	"DELETE /v1/params":           "param.delete",
	"POST /v1/runs":               "",
	"POST /v1/runs/{id}/cancel":   "",
	"POST /v1/runs/{id}/rerun":    "",
	"POST /v1/tokens":             "",
	"DELETE /v1/tokens/{name}":    "",
	"POST /v1/credentials":        "",
	"POST /v1/agents":             "agent.create",
	"DELETE /v1/agents/{name}":    "agent.revoke",
	"PUT /v1/projects/{name}":     "project.set",
	"DELETE /v1/projects/{name}":  "project.reset",
	"POST /v1/hosts":              "host.add",
	"PUT /v1/hosts/{name}":        "host.set",
	"DELETE /v1/hosts/{name}":     "host.remove",
	"POST /v1/hosts/{name}/drain": "host.drain",
	"POST /v1/hosts/{name}/gc":    "host.gc",
	"POST /v1/oidc/rotate":        "oidc.rotate",
}

// auditNote is what a handler of an audited route adds to its entry.
type auditNote struct{ target, detail string }

type auditNoteKey struct{}

// noteAudit names what a change was made to, where its path does not
// (a name in the request's body), and adds a detail.
func noteAudit(r *http.Request, target, detail string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		n.target, n.detail = target, detail
	}
}

// auditTarget names what a change was made to: the name in its path, or
// the name it was given in its query (parameters).
func auditTarget(r *http.Request) string {
	if name := r.PathValue("name"); name != "" {
		return name
	}
	return r.URL.Query().Get("name")
}

// roleFor is the least role with right r.
func roleFor(r right) string {
	for _, role := range api.Roles {
		if slices.Contains(roleRights[role], r) {
			return role
		}
	}
	return api.RoleAdmin
}

// refuse answers 403 with a message naming the missing right, and
// records the refusal.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, p principal, target, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.audit(r.Context(), p.Name, r.Method+" "+r.URL.Path, target, msg, api.OutcomeRefused)
	writeError(w, http.StatusForbidden, "%s", msg)
}

// checkProject answers 403 when the request's token may not see project.
func (s *Server) checkProject(w http.ResponseWriter, r *http.Request, project string) bool {
	p := principalOf(r.Context())
	if p.seesProject(project) {
		return true
	}
	s.refuse(w, r, p, project, "token %s may not see or act on project %s (its projects: %s)", p.Name, project, strings.Join(p.Projects, ","))
	return false
}

// audit appends to the audit log. A failure is logged, not returned: what
// was done is done, and the log line says what the audit log misses.
func (s *Server) audit(ctx context.Context, actor, action, target, detail, outcome string) {
	e := api.AuditEntry{At: time.Now(), Actor: auditText(actor), Action: auditText(action), Target: auditText(target), Detail: auditText(detail), Outcome: outcome}
	// A request that ended (a client gone) still has its entry written.
	if err := s.runs.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("writing the audit log", "err", err, "actor", actor, "action", action, "target", target, "outcome", outcome)
	}
}

// auditText is a field of an audit entry as it is stored: requests put
// paths, names and messages of their own choosing in entries, so control
// characters and line separators are escaped (\n, \x1b, \u2028): no
// entry can pose as another line of a listing, or move a terminal's
// cursor. Fields are bounded too.
func auditText(s string) string {
	const maxField = 2048
	if len(s) > maxField {
		s = s[:maxField] + "…"
	}
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// auditOK records an action a principal did.
func (s *Server) auditOK(r *http.Request, action, target, detail string) {
	s.audit(r.Context(), principalOf(r.Context()).Name, action, target, detail, api.OutcomeOK)
}

// auditAccess records an operation of the AWS APIs: names, never values.
// A run's scoped key is the run; the admin key pair is the operator's
// credentials file (DATA/aws-credentials).
func (s *Server) auditAccess(ctx context.Context, a params.Access) {
	actor := "aws-key:" + a.AccessKeyID
	if a.RunID != "" {
		actor = "run:" + a.RunID
	}
	action := "read"
	if a.Write {
		action = "write"
	}
	s.audit(ctx, actor, a.Operation, strings.Join(a.Names, " "), action, api.OutcomeOK)
}
