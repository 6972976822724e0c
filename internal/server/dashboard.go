package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/record"
	"github.com/jetway-dev/jetway/web"
)

// dashboardSource lets the dashboard read and do what the API serves,
// with the rights of the token its session was signed in with: each
// method finds the session's identity in its context and refuses, as the
// API would, what that token may not do. Without one it refuses all.
type dashboardSource struct{ s *Server }

var _ web.Source = dashboardSource{}

// SignIn checks a token typed into the sign-in form, and records the
// sign-in (or its refusal) in the audit log.
func (d dashboardSource) SignIn(ctx context.Context, token string) (web.Identity, string, error) {
	p, err := d.s.tokens.lookup(ctx, token)
	var refused *errTokenRefused
	switch {
	case errors.As(err, &refused):
		d.s.audit(ctx, p.Name, "sign-in", "dashboard", "token "+refused.why, api.OutcomeRefused)
		return web.Identity{}, "", web.ErrBadToken
	case errors.Is(err, record.ErrNotFound):
		return web.Identity{}, "", web.ErrBadToken
	case err != nil:
		return web.Identity{}, "", err
	}
	d.s.audit(ctx, p.Name, "sign-in", "dashboard", "", api.OutcomeOK)
	return identityOf(p), hashToken(token), nil
}

// Identify finds the token of a session again by its digest: the
// server's own, or one of jetway tokens' that is neither revoked nor
// expired.
func (d dashboardSource) Identify(ctx context.Context, key string) (web.Identity, error) {
	p, err := d.s.tokens.byHash(ctx, key)
	if err != nil {
		return web.Identity{}, err
	}
	return identityOf(p), nil
}

func identityOf(p principal) web.Identity {
	return web.Identity{Name: p.Name, Role: p.Role, Projects: p.Projects, Params: p.Params}
}

// who is the principal of the session a dashboard call is made in, as
// Identify found it for this very request.
func (d dashboardSource) who(ctx context.Context) (principal, error) {
	id, ok := web.IdentityFrom(ctx)
	if !ok {
		return principal{}, fmt.Errorf("%w: no signed-in session", web.ErrForbidden)
	}
	return principal{Name: id.Name, Role: id.Role, Projects: id.Projects, Params: id.Params}, nil
}

// need returns the session's principal if it has right r, else an
// ErrForbidden naming what is missing, recorded in the audit log.
func (d dashboardSource) need(ctx context.Context, r right, action, target string) (principal, error) {
	p, err := d.who(ctx)
	if err != nil {
		return p, err
	}
	if !p.has(r) {
		msg := fmt.Sprintf("token %s (role %s) may not %s; that takes the %s role", p.Name, p.Role, r, roleFor(r))
		d.s.audit(ctx, p.Name, action, target, msg, api.OutcomeRefused)
		return p, fmt.Errorf("%w: %s", web.ErrForbidden, msg)
	}
	return p, nil
}

func (d dashboardSource) ListRuns(ctx context.Context, project, status string, limit int) ([]api.Run, error) {
	p, err := d.need(ctx, rightRead, "dashboard runs", project)
	if err != nil {
		return nil, err
	}
	var statuses []string
	if status != "" {
		statuses = strings.Split(status, ",")
	}
	return d.s.visibleRuns(ctx, p, project, statuses, limit)
}

// GetRun reads a run the session's token may see.
func (d dashboardSource) GetRun(ctx context.Context, id string) (api.Run, error) {
	p, err := d.need(ctx, rightRead, "dashboard run", id)
	if err != nil {
		return api.Run{}, err
	}
	r, err := d.s.runs.GetRun(ctx, id)
	if err != nil {
		return api.Run{}, err
	}
	if !p.seesProject(r.Project) {
		msg := fmt.Sprintf("token %s may not see or act on project %s", p.Name, r.Project)
		d.s.audit(ctx, p.Name, "dashboard run", id, msg, api.OutcomeRefused)
		return api.Run{}, fmt.Errorf("%w: %s", web.ErrForbidden, msg)
	}
	return r.Run, nil
}

func (d dashboardSource) ReadLog(ctx context.Context, id string, after int64) ([]record.Chunk, error) {
	if _, err := d.GetRun(ctx, id); err != nil {
		return nil, err
	}
	return logSource(d).ReadLog(ctx, id, after)
}

func (d dashboardSource) LogChanged(id string) <-chan struct{} { return d.s.hub.wait(id) }

func (d dashboardSource) CancelRun(ctx context.Context, id string) error {
	p, err := d.need(ctx, rightDeploy, "dashboard stop", id)
	if err != nil {
		return err
	}
	run, err := d.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if _, err := d.s.cancel(ctx, id); err != nil {
		return err
	}
	d.s.audit(ctx, p.Name, "stop", run.Project, "run "+id+" (dashboard)", api.OutcomeOK)
	return nil
}

func (d dashboardSource) ListParams(ctx context.Context) ([]api.ParamInfo, error) {
	if _, err := d.need(ctx, rightParams, "dashboard parameters", ""); err != nil {
		return nil, err
	}
	return d.s.allParams(ctx)
}

func (d dashboardSource) ListSecrets(ctx context.Context) ([]api.SecretInfo, error) {
	if _, err := d.need(ctx, rightParams, "dashboard parameters", ""); err != nil {
		return nil, err
	}
	var out []api.SecretInfo
	for token := ""; ; {
		page, next, err := d.s.store.ListSecrets(ctx, params.ListSecretsInput{IncludePlannedDeletion: true, MaxResults: 100, NextToken: token})
		if err != nil {
			return nil, err
		}
		for _, sec := range page {
			info := api.SecretInfo{Name: sec.Name, Description: sec.Description, Changed: sec.Changed, Deleted: sec.Deleted}
			for _, t := range sec.Tags {
				if info.Tags == nil {
					info.Tags = map[string]string{}
				}
				info.Tags[t.Key] = t.Value
			}
			out = append(out, info)
		}
		if next == "" {
			return out, nil
		}
		token = next
	}
}

func (d dashboardSource) ListAgents(ctx context.Context) ([]api.Agent, error) {
	p, err := d.need(ctx, rightRead, "dashboard agents", "")
	if err != nil {
		return nil, err
	}
	list, err := d.s.agentList(ctx)
	if err != nil {
		return nil, err
	}
	return d.s.scopeAgents(ctx, p, list)
}

func (d dashboardSource) LeaseTimeout() time.Duration { return d.s.leaseTimeout }

func (d dashboardSource) ListHosts(ctx context.Context) ([]api.DockerHost, error) {
	p, err := d.need(ctx, rightRead, "dashboard hosts", "")
	if err != nil {
		return nil, err
	}
	list, err := d.s.hostsNow(ctx, "")
	return scopeHosts(p, list), err
}

func (d dashboardSource) ListAudit(ctx context.Context, since time.Time, limit int) ([]api.AuditEntry, error) {
	if _, err := d.need(ctx, rightAdmin, "dashboard audit log", ""); err != nil {
		return nil, err
	}
	return d.s.runs.ListAudit(ctx, since, 0, limit)
}

// logSource is what the API's log stream reads: its route has checked
// the token's rights already.
type logSource struct{ s *Server }

func (l logSource) GetRun(ctx context.Context, id string) (api.Run, error) {
	r, err := l.s.runs.GetRun(ctx, id)
	return r.Run, err
}

func (l logSource) ReadLog(ctx context.Context, id string, after int64) ([]record.Chunk, error) {
	return l.s.runs.ReadLog(ctx, id, after)
}

func (l logSource) LogChanged(id string) <-chan struct{} { return l.s.hub.wait(id) }
