package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// A project's settings are put, replaced whole, listed by name and
// removed; a project without any has none to read.
func TestProjects(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.GetProject(ctx, "web"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a project without settings: %v", err)
		}
		if list, err := s.ListProjects(ctx); err != nil || len(list) != 0 {
			t.Fatalf("no projects: %+v %v", list, err)
		}
		before := time.Now()
		web, err := s.PutProject(ctx, api.Project{Name: "web", Docker: api.DockerPolicy{Allow: []string{api.DockerAllowPrivileged, api.DockerAllowHostMounts}, ExposeCredentials: true}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(web.Docker.Allow, []string{"privileged", "host-mounts"}) || !web.Docker.ExposeCredentials || web.UpdatedAt.Before(before.Add(-time.Second)) {
			t.Fatalf("stored %+v", web)
		}
		if got, err := s.GetProject(ctx, "web"); err != nil || !slices.Equal(got.Docker.Allow, web.Docker.Allow) || !got.Docker.ExposeCredentials || !got.UpdatedAt.Equal(web.UpdatedAt) {
			t.Fatalf("read back %+v %v, want %+v", got, err, web)
		}
		// Put replaces: what is not given is not kept.
		time.Sleep(2 * time.Millisecond)
		again, err := s.PutProject(ctx, api.Project{Name: "web", Docker: api.DockerPolicy{Allow: []string{api.DockerAllowDevices}}})
		if err != nil || !slices.Equal(again.Docker.Allow, []string{"devices"}) || again.Docker.ExposeCredentials || !again.UpdatedAt.After(web.UpdatedAt) {
			t.Fatalf("replaced %+v %v (was %+v)", again, err, web)
		}
		if _, err := s.PutProject(ctx, api.Project{Name: "api"}); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListProjects(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "api" || list[1].Name != "web" {
			t.Fatalf("by name: %+v %v", list, err)
		}
		if list[0].Docker.Allow != nil || !list[0].Docker.Strict() {
			t.Fatalf("a project stored with no allowance: %+v", list[0].Docker)
		}
		if err := s.DeleteProject(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetProject(ctx, "web"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeleteProject(ctx, "web"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a second delete: %v", err)
		}
		if list, _ := s.ListProjects(ctx); len(list) != 1 || list[0].Name != "api" {
			t.Fatalf("after delete: %+v", list)
		}
	})
}

// A run records the policy its project had when the grant was made, and
// keeps it when the settings change later; until then it has none.
func TestGrantDockerPolicy(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		create(t, s, "r1", "web")
		create(t, s, "r2", "web")
		create(t, s, "r3", "other")
		if r, _ := s.GetRun(ctx, "r1"); r.Docker != nil {
			t.Fatalf("a run not granted yet shows a policy: %+v", r.Docker)
		}
		strict, err := s.GrantDockerPolicy(ctx, "r1")
		if err != nil || !strict.Strict() {
			t.Fatalf("a project without settings: %+v %v", strict, err)
		}
		if r, _ := s.GetRun(ctx, "r1"); r.Docker == nil || !r.Docker.Strict() {
			t.Fatalf("r1 recorded %+v, want the strict default", r.Docker)
		}
		want := api.DockerPolicy{Allow: []string{api.DockerAllowHostNamespaces, api.DockerAllowUnconfined}, ExposeCredentials: true}
		if _, err := s.PutProject(ctx, api.Project{Name: "web", Docker: want}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GrantDockerPolicy(ctx, "r2")
		if err != nil || !slices.Equal(got.Allow, want.Allow) || !got.ExposeCredentials {
			t.Fatalf("granted %+v %v, want %+v", got, err, want)
		}
		if r, _ := s.GetRun(ctx, "r2"); r.Docker == nil || r.Docker.String() != want.String() {
			t.Fatalf("r2 recorded %+v, want %+v", r.Docker, want)
		}
		// What a run was given stays when the settings change.
		if r, _ := s.GetRun(ctx, "r1"); r.Docker == nil || !r.Docker.Strict() {
			t.Fatalf("r1 followed the new settings: %+v", r.Docker)
		}
		if err := s.DeleteProject(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.GetRun(ctx, "r2"); r.Docker == nil || r.Docker.String() != want.String() {
			t.Fatalf("r2 after its project's reset: %+v", r.Docker)
		}
		// Granted again, a run gets the settings of that moment.
		if again, err := s.GrantDockerPolicy(ctx, "r2"); err != nil || !again.Strict() {
			t.Fatalf("granted again after the reset: %+v %v", again, err)
		}
		// Another project's settings are not this one's.
		if r, _ := s.GetRun(ctx, "r3"); r.Docker != nil {
			t.Fatalf("r3 was never granted: %+v", r.Docker)
		}
		if _, err := s.GrantDockerPolicy(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown run: %v", err)
		}
	})
}

// A database at the schema before project settings upgrades: its runs
// show no Docker policy (none was recorded), and projects can be set.
func TestUpgradeToProjectSettings(t *testing.T) {
	ctx := context.Background()
	upgrade := func(t *testing.T, db *sqldb.DB) {
		t.Helper()
		if err := db.Migrate(ctx, "runs", migrations[:3]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO runs (id, project, status, bundle, project_file, created_at) VALUES ('old', 'web', 'succeeded', 'b', 'project: web', 1)`); err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, db)
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if r, err := s.GetRun(ctx, "old"); err != nil || r.Status != api.StatusSucceeded || r.Docker != nil {
			t.Fatalf("the old run: %+v %v", r, err)
		}
		if _, err := s.PutProject(ctx, api.Project{Name: "web", Docker: api.DockerPolicy{Allow: []string{api.DockerAllowCapabilities}}}); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.GetRun(ctx, "old"); r.Docker != nil {
			t.Fatalf("an old run shows the project's present settings: %+v", r.Docker)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "jetway.db"))
		if err != nil {
			t.Fatal(err)
		}
		upgrade(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqldb.OpenPostgres(ctx, pg.DB(t))
		if err != nil {
			t.Fatal(err)
		}
		upgrade(t, db)
	})
}
