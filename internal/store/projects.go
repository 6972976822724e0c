package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// Projects' operator settings (jetway projects): what an operator allows
// a project's runs on their Docker host beyond the strict default. They
// are set through the API only; jetway.yaml, which the runs' own side
// writes, never reaches them. A project without a row has the strict
// default. The store keeps what it is given: the server checks names and
// allowances first.

const projectColumns = `name, docker_allow, docker_expose_credentials, updated_at`

func scanProject(row interface{ Scan(...any) error }) (api.Project, error) {
	var p api.Project
	var allow string
	var expose int
	var updated int64
	if err := row.Scan(&p.Name, &allow, &expose, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, ErrNotFound
		}
		return p, err
	}
	p.Docker.Allow = parseAllow(allow)
	p.Docker.ExposeCredentials = expose != 0
	p.UpdatedAt = time.Unix(0, updated).UTC()
	return p, nil
}

// parseAllow reads a stored list of allowances; one that does not parse
// grants nothing.
func parseAllow(stored string) []string {
	var allow []string
	if err := json.Unmarshal([]byte(stored), &allow); err != nil || len(allow) == 0 {
		return nil
	}
	return allow
}

// GetProject reads a project's settings; ErrNotFound for a project that
// has none (it has the strict default).
func (s *Store) GetProject(ctx context.Context, name string) (api.Project, error) {
	return scanProject(s.db.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE name = ?`, name))
}

// PutProject stores a project's settings, replacing any it had, stamped
// with the time of the change, and returns them as stored.
func (s *Store) PutProject(ctx context.Context, p api.Project) (api.Project, error) {
	allow, _ := json.Marshal(p.Docker.Allow)
	if p.Docker.Allow == nil {
		allow = []byte("[]")
	}
	expose := 0
	if p.Docker.ExposeCredentials {
		expose = 1
	}
	now := time.Now().UTC()
	_, err := s.db.ExecContext(ctx, `INSERT INTO projects (`+projectColumns+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET docker_allow = excluded.docker_allow, docker_expose_credentials = excluded.docker_expose_credentials, updated_at = excluded.updated_at`,
		p.Name, string(allow), expose, now.UnixNano())
	if err != nil {
		return api.Project{}, err
	}
	return s.GetProject(ctx, p.Name)
}

// ListProjects lists the projects with settings, by name.
func (s *Store) ListProjects(ctx context.Context) ([]api.Project, error) {
	return queryAll(ctx, s.db, scanProject, `SELECT `+projectColumns+` FROM projects ORDER BY name`)
}

// DeleteProject removes a project's settings, which puts it back on the
// strict default; ErrNotFound if it had none.
func (s *Store) DeleteProject(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM projects WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// GrantDockerPolicy reads the Docker policy run id's project has now,
// records it with the run and returns it: what the run's spec hands its
// runner, and what the run shows afterwards. ErrNotFound for an unknown
// run. Called again (a runner that fetches its spec again), it records
// the policy of that moment.
func (s *Store) GrantDockerPolicy(ctx context.Context, id string) (api.DockerPolicy, error) {
	var policy api.DockerPolicy
	var allow sql.NullString
	var expose sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT p.docker_allow, p.docker_expose_credentials FROM runs r LEFT JOIN projects p ON p.name = r.project WHERE r.id = ?`, id).Scan(&allow, &expose)
	if errors.Is(err, sql.ErrNoRows) {
		return policy, ErrNotFound
	}
	if err != nil {
		return policy, err
	}
	if allow.Valid {
		policy.Allow = parseAllow(allow.String)
	}
	policy.ExposeCredentials = expose.Valid && expose.Int64 != 0
	recorded, _ := json.Marshal(policy)
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET docker = ? WHERE id = ?`, string(recorded), id)
	if err != nil {
		return api.DockerPolicy{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return api.DockerPolicy{}, ErrNotFound // pruned in between
	}
	return policy, nil
}
