package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Docker hosts the server knows (jetway hosts): an operator's settings of
// each host and, in the same row, what the server's last health check
// found and the last GC the host had. Settings and state are written by
// different statements, so a check never undoes a change of settings and
// a change never fakes a check. The store keeps what it is given: the
// server checks names, URLs and references first, and credentials are
// references, never values.

const hostColumns = `name, url, pool, ssh_key, known_hosts, tls_ca, tls_cert, tls_key, max_builds, gc, draining, created_at,
	up, since, checked_at, error, free_bytes, disk_bytes, images_bytes, build_cache_bytes, last_gc, projects`

func scanHost(row interface{ Scan(...any) error }) (api.DockerHost, error) {
	var h api.DockerHost
	var gc string
	var draining, up int
	var created int64
	var since, checked sql.NullInt64
	var lastGC sql.NullString
	var projects string
	var st api.HostState
	if err := row.Scan(&h.Name, &h.URL, &h.Pool, &h.SSHKey, &h.KnownHosts, &h.TLSCA, &h.TLSCert, &h.TLSKey, &h.MaxBuilds, &gc, &draining, &created,
		&up, &since, &checked, &st.Error, &st.FreeBytes, &st.DiskBytes, &st.ImagesBytes, &st.BuildCacheBytes, &lastGC, &projects); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return h, ErrNotFound
		}
		return h, err
	}
	h.Projects = globList(projects)
	_ = json.Unmarshal([]byte(gc), &h.GC)
	h.Draining = draining != 0
	h.CreatedAt = time.Unix(0, created).UTC()
	if lastGC.Valid {
		st.LastGC = &api.GCReport{}
		_ = json.Unmarshal([]byte(lastGC.String), st.LastGC)
	}
	// A host never checked has no state, unless a GC ran on it already.
	if checked.Valid || st.LastGC != nil {
		st.Up = up != 0
		if since.Valid {
			st.Since = time.Unix(0, since.Int64).UTC()
		}
		if checked.Valid {
			st.CheckedAt = time.Unix(0, checked.Int64).UTC()
		}
		h.State = &st
	}
	return h, nil
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AddHost stores a new host, not draining and never checked, and returns
// it as stored; ErrExists if the name is taken.
func (s *Store) AddHost(ctx context.Context, h api.DockerHost) (api.DockerHost, error) {
	gc, _ := json.Marshal(h.GC)
	_, err := s.db.ExecContext(ctx, `INSERT INTO docker_hosts (name, url, pool, ssh_key, known_hosts, tls_ca, tls_cert, tls_key, max_builds, gc, created_at, projects)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.Name, h.URL, h.Pool, h.SSHKey, h.KnownHosts, h.TLSCA, h.TLSCert, h.TLSKey, h.MaxBuilds, string(gc), time.Now().UnixNano(), globJSON(h.Projects))
	if sqldb.IsUniqueViolation(err) {
		return api.DockerHost{}, ErrExists
	}
	if err != nil {
		return api.DockerHost{}, err
	}
	return s.GetHost(ctx, h.Name)
}

// PutHost replaces a host's settings (URL, pool, credentials' references,
// max builds, GC policy) and returns it as stored; ErrNotFound for an
// unknown host. Draining is DrainHost's. A host that now has another URL
// or other credentials loses its health state, which was another
// connection's: its next check says.
func (s *Store) PutHost(ctx context.Context, h api.DockerHost) (api.DockerHost, error) {
	gc, _ := json.Marshal(h.GC)
	same := `url = ? AND ssh_key = ? AND known_hosts = ? AND tls_ca = ? AND tls_cert = ? AND tls_key = ?`
	conn := []any{h.URL, h.SSHKey, h.KnownHosts, h.TLSCA, h.TLSCert, h.TLSKey}
	// Every expression of SET reads the row as it was, on both engines.
	args := append(append(append([]any{}, conn...), conn...), conn...)
	args = append(args, h.URL, h.Pool, h.SSHKey, h.KnownHosts, h.TLSCA, h.TLSCert, h.TLSKey, h.MaxBuilds, string(gc), globJSON(h.Projects), h.Name)
	res, err := s.db.ExecContext(ctx, `UPDATE docker_hosts SET
		checked_at = CASE WHEN `+same+` THEN checked_at ELSE NULL END,
		since = CASE WHEN `+same+` THEN since ELSE NULL END,
		up = CASE WHEN `+same+` THEN up ELSE 0 END,
		url = ?, pool = ?, ssh_key = ?, known_hosts = ?, tls_ca = ?, tls_cert = ?, tls_key = ?, max_builds = ?, gc = ?, projects = ?
		WHERE name = ?`, args...)
	if err != nil {
		return api.DockerHost{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return api.DockerHost{}, ErrNotFound
	}
	return s.GetHost(ctx, h.Name)
}

// GetHost reads a host with its state (nil if never checked); ErrNotFound
// for an unknown host.
func (s *Store) GetHost(ctx context.Context, name string) (api.DockerHost, error) {
	return scanHost(s.db.QueryRowContext(ctx, `SELECT `+hostColumns+` FROM docker_hosts WHERE name = ?`, name))
}

// ListHosts lists the hosts of pool ("": of every pool) by name, with
// their state.
func (s *Store) ListHosts(ctx context.Context, pool string) ([]api.DockerHost, error) {
	q := `SELECT ` + hostColumns + ` FROM docker_hosts`
	var args []any
	if pool != "" {
		q += ` WHERE pool = ?`
		args = append(args, pool)
	}
	return queryAll(ctx, s.db, scanHost, q+` ORDER BY name`, args...)
}

// DeleteHost forgets a host; ErrNotFound if it was unknown. Runs given it
// already keep their assignment.
func (s *Store) DeleteHost(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM docker_hosts WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DrainHost sets whether a host takes new runs and returns it as stored;
// ErrNotFound for an unknown host.
func (s *Store) DrainHost(ctx context.Context, name string, draining bool) (api.DockerHost, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE docker_hosts SET draining = ? WHERE name = ?`, flag(draining), name)
	if err != nil {
		return api.DockerHost{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return api.DockerHost{}, ErrNotFound
	}
	return s.GetHost(ctx, name)
}

// RecordHostState stores what a health check of a host found at
// st.CheckedAt and returns the state as stored, and whether the host went
// up or down with it (its first check counts as a change). Since stays
// when up/down does not change; the sizes of a host found down stay those
// of its last good check, and so does its disk when the check could not
// measure it (DiskBytes 0). Replicas may all check: a check older than
// the stored one changes nothing. ErrNotFound for a host removed
// meanwhile.
func (s *Store) RecordHostState(ctx context.Context, name string, st api.HostState) (api.HostState, bool, error) {
	at := st.CheckedAt.UnixNano()
	up := flag(st.Up)
	disk := flag(st.Up && st.DiskBytes > 0)
	var since, checked int64
	err := s.db.QueryRowContext(ctx, `UPDATE docker_hosts SET
		since = CASE WHEN checked_at IS NOT NULL AND up = ? THEN since ELSE ? END,
		up = ?, checked_at = ?, error = ?,
		free_bytes = CASE WHEN ? = 1 THEN ? ELSE free_bytes END,
		disk_bytes = CASE WHEN ? = 1 THEN ? ELSE disk_bytes END,
		images_bytes = CASE WHEN ? = 1 THEN ? ELSE images_bytes END,
		build_cache_bytes = CASE WHEN ? = 1 THEN ? ELSE build_cache_bytes END
		WHERE name = ? AND (checked_at IS NULL OR checked_at < ?)
		RETURNING since, checked_at`,
		up, at, up, at, st.Error, disk, st.FreeBytes, disk, st.DiskBytes, up, st.ImagesBytes, up, st.BuildCacheBytes, name, at).Scan(&since, &checked)
	if errors.Is(err, sql.ErrNoRows) {
		h, err := s.GetHost(ctx, name)
		if err != nil {
			return api.HostState{}, false, err
		}
		// A newer check was stored first.
		if h.State == nil {
			return api.HostState{}, false, nil
		}
		return *h.State, false, nil
	}
	if err != nil {
		return api.HostState{}, false, err
	}
	h, err := s.GetHost(ctx, name)
	if err != nil {
		return api.HostState{}, false, err
	}
	return *h.State, since == checked, nil
}

// RecordHostGC stores r as a host's last GC, unless the host has had a
// later one; a host removed meanwhile is no error.
func (s *Store) RecordHostGC(ctx context.Context, name string, r api.GCReport) error {
	b, _ := json.Marshal(r)
	at := r.At.UnixNano()
	_, err := s.db.ExecContext(ctx, `UPDATE docker_hosts SET last_gc = ?, last_gc_at = ? WHERE name = ? AND (last_gc_at IS NULL OR last_gc_at <= ?)`,
		string(b), at, name, at)
	return err
}

// AssignDockerHost records with a run the host the server chose for it in
// its project's pool, and the Dockerfile of its affinity key; ErrNotFound
// for an unknown run. Called again (a runner that fetches its spec again),
// it records the choice of that moment.
func (s *Store) AssignDockerHost(ctx context.Context, runID, dockerfile string, a api.AssignedHost) error {
	b, _ := json.Marshal(a)
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET docker_host = ?, docker_pool = ?, dockerfile = ? WHERE id = ?`, string(b), a.Pool, dockerfile, runID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetBuiltOn records the host of its pool a run built on, as its summary
// says; ErrNotFound for an unknown run.
func (s *Store) SetBuiltOn(ctx context.Context, runID, host string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET docker_host_name = ? WHERE id = ?`, host, runID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// PoolKeys lists the affinity keys of the runs the store keeps that were
// given a host of a pool, by pool, project and Dockerfile.
func (s *Store) PoolKeys(ctx context.Context) ([]PoolKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT docker_pool, project, dockerfile FROM runs WHERE docker_pool <> '' ORDER BY docker_pool, project, dockerfile`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PoolKey
	for rows.Next() {
		var k PoolKey
		if err := rows.Scan(&k.Pool, &k.Project, &k.Dockerfile); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
