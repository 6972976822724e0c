// Package web is the dashboard: server-rendered pages (html/template) with
// a little plain JavaScript for live updates, every asset embedded in the
// binary. It reads runs, agents and parameters through Source, which the
// server implements; it never sees a secret value (logs are masked by the
// runner, parameters are listed without values).
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/internal/runstream"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Source is what the dashboard reads and does. Its methods may be called
// concurrently, by every open page.
type Source interface {
	ListRuns(ctx context.Context, project, status string, limit int) ([]api.Run, error)
	GetRun(ctx context.Context, id string) (api.Run, error)
	ReadLog(ctx context.Context, id string, after int64) ([]record.Chunk, error)
	// LogChanged is closed at the run's next log or status change.
	LogChanged(id string) <-chan struct{}
	CancelRun(ctx context.Context, id string) error
	// RerunRun queues a new run of a past run's source, project file and
	// variables, and returns it.
	RerunRun(ctx context.Context, id string) (api.Run, error)
	// ListArtifacts lists the files a run kept; OpenArtifact reads one
	// (the caller closes it).
	ListArtifacts(ctx context.Context, id string) ([]api.Artifact, error)
	OpenArtifact(ctx context.Context, id, name string) (api.Artifact, io.ReadCloser, error)
	ListParams(ctx context.Context) ([]api.ParamInfo, error)
	// ListSecrets lists the Secrets Manager secrets, those scheduled for
	// deletion too, without values.
	ListSecrets(ctx context.Context) ([]api.SecretInfo, error)
	// ListAgents lists the agents as they are now, as GET /v1/agents does.
	ListAgents(ctx context.Context) ([]api.Agent, error)
	// LeaseTimeout is how long an agent may stay silent before it loses
	// its runs: the Agents page shows it offline from then on.
	LeaseTimeout() time.Duration
	// ListHosts lists the Docker hosts the server knows, with their state,
	// as GET /v1/hosts does.
	ListHosts(ctx context.Context) ([]api.DockerHost, error)
	// SignIn checks a token given to the sign-in form and returns who it
	// is, and the key a session keeps to find the token again (a digest,
	// never the token): ErrBadToken for one the server does not take.
	SignIn(ctx context.Context, token string) (who Identity, key string, err error)
	// Identify finds again who a session's token is, at every request:
	// an error once the token is revoked, expired or replaced.
	Identify(ctx context.Context, key string) (Identity, error)
	// ListAudit lists the audit log from since, oldest first, at most
	// limit entries (admins only).
	ListAudit(ctx context.Context, since time.Time, limit int) ([]api.AuditEntry, error)
}

// Dashboard serves the pages.
type Dashboard struct {
	source Source
	// csrfKey makes sessions' CSRF tokens of their IDs (csrfOf).
	csrfKey  []byte
	sessions Sessions
	log      *slog.Logger
	pages    map[string]*template.Template
	now      func() time.Time
}

// Options configure a dashboard.
type Options struct {
	Source Source
	// Secret is a secret of the server's, which every server of one
	// database shares (the server's own API token): sessions' CSRF tokens
	// are derived from it.
	Secret string
	// Sessions keeps the sessions; nil means in memory (NewMemorySessions).
	Sessions Sessions
	Logger   *slog.Logger
}

const (
	cookieName = "jetway_session"
	csrfField  = "csrf"
	// maxForm bounds a form post: the largest the dashboard takes is the
	// sign-in form.
	maxForm = 64 << 10
)

// New parses the templates.
func New(opts Options) (*Dashboard, error) {
	d := &Dashboard{source: opts.Source, csrfKey: csrfKey(opts.Secret), sessions: opts.Sessions, log: opts.Logger,
		pages: map[string]*template.Template{}, now: time.Now}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.sessions == nil {
		d.sessions = NewMemorySessions()
	}
	funcs := template.FuncMap{
		"duration": fmtDuration,
		"since":    func(t *time.Time) string { return fmtTime(t) },
		"git":      api.Git.String,
		"cache":    (*api.Summary).CacheText,
		"pct":      func(f float64) string { return fmt.Sprintf("%.2f%%", f) },
		"bytes":    api.HumanBytes,
		"short":    func(s string) string { return s[:min(19, len(s))] },
		"pathesc":  func(s string) string { return (&url.URL{Path: s}).EscapedPath() },
	}
	for _, page := range []string{"login", "runs", "run", "params", "hosts", "agents", "audit"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", page, err)
		}
		d.pages[page] = t
	}
	return d, nil
}

// csrfKey is the key of sessions' CSRF tokens, derived from the server's
// secret: every server of a database has it, none stores it, and a new
// one changes it.
func csrfKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("jetway dashboard csrf key v1"))
	return m.Sum(nil)
}

// csrfOf is the CSRF token of the session with this ID: derived, never
// stored, so a reader of the session store learns none.
func (d *Dashboard) csrfOf(id string) string {
	m := hmac.New(sha256.New, d.csrfKey)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

// session returns the request's live session, if it has one.
func (d *Dashboard) session(r *http.Request) (Session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return Session{}, false
	}
	s, ok, err := d.sessions.Lookup(r.Context(), c.Value)
	if err != nil {
		d.log.Error("looking up a dashboard session", "err", err)
		return Session{}, false
	}
	if !ok {
		return Session{}, false
	}
	// The token is asked after at every request: one revoked, expired or
	// replaced ends the session there.
	who, err := d.source.Identify(r.Context(), s.Token)
	if err != nil {
		return Session{}, false
	}
	s.Who = who
	// Whatever the store kept, the CSRF token is the one derived now.
	s.ID, s.CSRF = c.Value, d.csrfOf(c.Value)
	return s, true
}

// sameForm reports whether a posted form carries the session's CSRF token.
// Together with the Origin check of Handler it stops pages elsewhere —
// another port of the same host included, which SameSite does not
// separate — from posting on the user's behalf.
func sameForm(r *http.Request, s Session) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// Handler routes the dashboard's paths.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.login)
	mux.HandleFunc("POST /logout", d.logout)
	mux.Handle("GET /{$}", d.auth(d.runsPage))
	mux.Handle("GET /runs/{id}", d.auth(d.runPage))
	mux.Handle("POST /runs/{id}/stop", d.auth(d.stop))
	mux.Handle("POST /runs/{id}/rerun", d.auth(d.rerun))
	mux.Handle("GET /runs/{id}/artifacts/{name...}", d.auth(d.artifact))
	mux.Handle("GET /runs/{id}/log", d.auth(d.logStream))
	mux.Handle("GET /events", d.auth(d.runEvents))
	mux.Handle("GET /params", d.auth(d.paramsPage))
	mux.Handle("GET /hosts", d.auth(d.hostsPage))
	mux.Handle("GET /agents", d.auth(d.agentsPage))
	mux.Handle("GET /agents/events", d.auth(d.agentEvents))
	mux.Handle("GET /audit", d.auth(d.auditPage))
	// Every state-changing request must come from the dashboard's own
	// origin (Sec-Fetch-Site, else Origin against Host); forms also carry
	// the session's CSRF token, for browsers that send neither header.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "refused: this request came from a page of another origin, not from the dashboard", http.StatusForbidden)
	}))
	return securityHeaders(limitForms(cop.Handler(mux)))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// limitForms bounds what a form post may send.
func limitForms(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		h.ServeHTTP(w, r)
	})
}

// auth requires a live session, and on a post the session's CSRF token.
func (d *Dashboard) auth(h func(http.ResponseWriter, *http.Request, Session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.session(r)
		if !ok {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameForm(r, s) {
			http.Error(w, "refused: the form lacks this session's CSRF token; reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r.WithContext(withIdentity(r.Context(), s.Who)), s)
	})
}

// render executes a page. With a session, the page shows the navigation
// and its forms carry the session's CSRF token.
func (d *Dashboard) render(w http.ResponseWriter, status int, page string, s *Session, data map[string]any) {
	if s != nil {
		data["CSRF"] = s.CSRF
		data["Who"] = s.Who
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Pages hold the CSRF token and run details: keep them out of caches,
	// and out of the back button after sign-out.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := d.pages[page].Execute(w, data); err != nil {
		d.log.Error("rendering a page", "page", page, "err", err)
	}
}

func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, http.StatusOK, "login", nil, map[string]any{"Title": "Sign in", "Next": safeNext(r.URL.Query().Get("next"))})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	_, key, err := d.source.SignIn(r.Context(), token)
	if errors.Is(err, ErrBadToken) {
		d.render(w, http.StatusUnauthorized, "login", nil, map[string]any{"Title": "Sign in", "Next": next,
			"Error": "That is not a token of this server, or it was revoked or has expired. Use one jetway tokens create printed, or the server's own (the file token in its data dir)."})
		return
	}
	if err != nil {
		d.log.Error("checking a token at sign-in", "err", err)
		http.Error(w, "could not sign in: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// A session held before signing in again is ended, not reused: a
	// cookie planted in the browser beforehand never becomes signed in.
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
		_ = d.sessions.Revoke(r.Context(), c.Value)
	}
	s := newSession(key, d.now())
	s.CSRF = d.csrfOf(s.ID)
	if err := d.sessions.Create(r.Context(), s); err != nil {
		d.log.Error("creating a dashboard session", "err", err)
		http.Error(w, "could not sign in: the session store failed; see the server's log", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.ID, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, Expires: s.Expires, MaxAge: int(SessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session on the server, so that a copy of the cookie is
// worth nothing afterwards, and clears the cookie.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	if s, ok := d.session(r); ok {
		if !sameForm(r, s) {
			http.Error(w, "refused: the form lacks this session's CSRF token; reload the page and try again", http.StatusForbidden)
			return
		}
		if err := d.sessions.Revoke(r.Context(), s.ID); err != nil {
			d.log.Error("ending a dashboard session", "err", err)
			http.Error(w, "could not sign out: the session store failed; see the server's log", http.StatusInternalServerError)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// runRow is a run as the list shows it.
type runRow struct {
	ID, Project, Status, Git, StartedBy, Started, Duration, Cache string
	// Agent executes or executed the run; Reason says why the run ended
	// so, or while it is queued why it waits — then Waits says it too.
	Agent, Reason, Waits string
}

func row(r api.Run) runRow {
	rr := runRow{ID: r.ID, Project: r.Project, Status: r.Status, Git: r.Git.String(), StartedBy: r.StartedBy,
		Started: fmtTime(r.StartedAt), Duration: fmtDuration(r.Duration()), Cache: r.Summary.CacheText(),
		Agent: r.Agent, Reason: r.Reason}
	if r.Status == api.StatusQueued {
		rr.Waits = r.Reason
	}
	return rr
}

func (d *Dashboard) runsPage(w http.ResponseWriter, r *http.Request, sess Session) {
	project, status := r.URL.Query().Get("project"), r.URL.Query().Get("status")
	runs, err := d.source.ListRuns(r.Context(), project, status, 100)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	all, _ := d.source.ListRuns(r.Context(), "", "", 500)
	projects := map[string]bool{}
	for _, run := range all {
		projects[run.Project] = true
	}
	var names []string
	for p := range projects {
		names = append(names, p)
	}
	sort.Strings(names)
	var rows []runRow
	for _, run := range runs {
		rows = append(rows, row(run))
	}
	d.render(w, http.StatusOK, "runs", &sess, map[string]any{"Title": "Runs", "Runs": rows, "Projects": names, "Project": project, "Status": status,
		"Statuses": []string{api.StatusQueued, api.StatusProvisioning, api.StatusRunning, api.StatusSucceeded, api.StatusFailed, api.StatusCancelled, api.StatusTimedOut}})
}

// phaseBar is a phase drawn to scale.
type phaseBar struct {
	Name, Status, Duration string
	Left, Width            float64
}

func (d *Dashboard) runPage(w http.ResponseWriter, r *http.Request, sess Session) {
	run, err := d.source.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		d.render(w, http.StatusNotFound, "runs", &sess, map[string]any{"Title": "Not found", "Error": fmt.Sprintf("No run %q.", r.PathValue("id"))})
		return
	}
	var bars []phaseBar
	if s := run.Summary; s != nil {
		var total time.Duration
		for _, p := range s.Phases {
			total += p.Duration
		}
		var left float64
		for _, p := range s.Phases {
			width := 0.0
			if total > 0 {
				width = 100 * float64(p.Duration) / float64(total)
			}
			bars = append(bars, phaseBar{Name: p.Name, Status: p.Status, Duration: fmtDuration(p.Duration), Left: left, Width: max(width, 0.5)})
			left += width
		}
	}
	artifacts, err := d.source.ListArtifacts(r.Context(), run.ID)
	if err != nil {
		d.log.Error("listing a run's artifacts", "run", run.ID, "err", err)
	}
	var total int64
	for _, a := range artifacts {
		total += a.Size
	}
	vars := make([]string, 0, len(run.Vars))
	for name, value := range run.Vars {
		vars = append(vars, name+"="+value)
	}
	sort.Strings(vars)
	d.render(w, http.StatusOK, "run", &sess, map[string]any{"Title": "Run " + run.ID, "Run": run, "Row": row(run), "Phases": bars,
		"Finished": api.Finished(run.Status), "Summary": run.Summary, "Artifacts": artifacts, "ArtifactsSize": total, "Vars": vars})
}

// rerun queues a rerun of the run and shows the new run.
func (d *Dashboard) rerun(w http.ResponseWriter, r *http.Request, sess Session) {
	run, err := d.source.RerunRun(r.Context(), r.PathValue("id"))
	if err != nil {
		http.Error(w, "cannot rerun: "+err.Error(), refusalStatus(err, http.StatusConflict))
		return
	}
	http.Redirect(w, r, "/runs/"+url.PathEscape(run.ID), http.StatusSeeOther)
}

// artifact downloads one of a run's artifacts.
func (d *Dashboard) artifact(w http.ResponseWriter, r *http.Request, sess Session) {
	a, content, err := d.source.OpenArtifact(r.Context(), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		http.Error(w, "no such artifact", http.StatusNotFound)
		return
	}
	defer content.Close()
	runstream.ServeArtifact(w, a, content, d.log.Error)
}

func (d *Dashboard) stop(w http.ResponseWriter, r *http.Request, sess Session) {
	id := r.PathValue("id")
	if err := d.source.CancelRun(r.Context(), id); err != nil {
		http.Error(w, err.Error(), refusalStatus(err, http.StatusConflict))
		return
	}
	http.Redirect(w, r, "/runs/"+url.PathEscape(id), http.StatusSeeOther)
}

// logStream sends the run's log as the API's /v1/runs/{id}/logs?follow=1
// does.
func (d *Dashboard) logStream(w http.ResponseWriter, r *http.Request, sess Session) {
	var after int64
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		after, _ = strconv.ParseInt(last, 10, 64)
	}
	runstream.StreamLog(r.Context(), w, d.source, r.PathValue("id"), after)
}

// runEvents streams the rows of the runs list (a "run" event with a
// runRow), oldest first, each when it changes; with ?run=ID only that
// run's, for its page. It starts with every row, so that nothing that
// changed between the page and the stream is missed.
func (d *Dashboard) runEvents(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	list := func() ([]api.Run, error) { return d.source.ListRuns(ctx, "", "", 100) }
	if id := r.URL.Query().Get("run"); id != "" {
		list = func() ([]api.Run, error) {
			run, err := d.source.GetRun(ctx, id)
			return []api.Run{run}, err
		}
	}
	sent := map[string]string{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		runs, err := list()
		if err != nil {
			return
		}
		for i := len(runs) - 1; i >= 0; i-- {
			rr := row(runs[i])
			// Not the duration: an unfinished run's changes at every look,
			// and a finished run's is final when its status changes.
			key := strings.Join([]string{rr.Status, rr.Agent, rr.Reason}, "\x00")
			if sent[rr.ID] == key {
				continue
			}
			sent[rr.ID] = key
			b, _ := json.Marshal(rr)
			fmt.Fprintf(w, "event: run\ndata: %s\n\n", b)
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// refusalStatus is 403 for a Source's refusal of the identity's rights,
// else status.
func refusalStatus(err error, status int) int {
	if errors.Is(err, ErrForbidden) {
		return http.StatusForbidden
	}
	return status
}

func (d *Dashboard) paramsPage(w http.ResponseWriter, r *http.Request, sess Session) {
	params, err := d.source.ListParams(r.Context())
	if err != nil {
		http.Error(w, err.Error(), refusalStatus(err, http.StatusInternalServerError))
		return
	}
	for i := range params {
		params[i].Value = nil // never a value
	}
	secrets, err := d.source.ListSecrets(r.Context())
	if err != nil {
		http.Error(w, err.Error(), refusalStatus(err, http.StatusInternalServerError))
		return
	}
	d.render(w, http.StatusOK, "params", &sess, map[string]any{"Title": "Parameters", "Params": params, "Secrets": secrets})
}

// host is what the last run that used a Docker host reported about it.
type host struct {
	URL       string
	Report    *api.DockerHostReport
	Reachable bool
	Error     string
	RunID     string
	When      string
}

func (d *Dashboard) hostsPage(w http.ResponseWriter, r *http.Request, sess Session) {
	runs, err := d.source.ListRuns(r.Context(), "", "", 500)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	seen := map[string]bool{}
	var hosts []host
	for _, run := range runs { // newest first: the first report of a host is its latest
		s := run.Summary
		if s == nil || s.DockerHostURL == "" || seen[s.DockerHostURL] {
			continue
		}
		seen[s.DockerHostURL] = true
		h := host{URL: s.DockerHostURL, Report: s.DockerHost, Reachable: s.DockerHost != nil, RunID: run.ID, When: fmtTime(run.FinishedAt)}
		if !h.Reachable {
			h.Error = s.Error
		}
		hosts = append(hosts, h)
	}
	known, err := d.source.ListHosts(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pool := make([]poolHost, 0, len(known))
	for _, h := range known {
		pool = append(pool, poolHostOf(h, d.now()))
	}
	d.render(w, http.StatusOK, "hosts", &sess, map[string]any{"Title": "Docker hosts", "Hosts": hosts, "Pool": pool})
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
