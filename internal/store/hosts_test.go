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

func host(name, pool string) api.DockerHost {
	return api.DockerHost{Name: name, URL: "ssh://builder@" + name + ".internal", Pool: pool,
		SSHKey: "SSM:/hosts/" + name + "/key", KnownHosts: "SSM:/hosts/known_hosts",
		MaxBuilds: 2, GC: api.GCPolicy{MaxUsed: 300 << 20, MinFreePercent: 10, KeepImages: 5}}
}

// Hosts are added once, read back whole, replaced (draining apart),
// listed by pool and name, drained and removed.
func TestHosts(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.GetHost(ctx, "b1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown host: %v", err)
		}
		before := time.Now().Add(-time.Second)
		b1, err := s.AddHost(ctx, host("b1", "warm"))
		if err != nil {
			t.Fatal(err)
		}
		want := host("b1", "warm")
		if b1.URL != want.URL || b1.SSHKey != want.SSHKey || b1.KnownHosts != want.KnownHosts || b1.MaxBuilds != 2 || b1.GC != want.GC ||
			b1.Draining || b1.State != nil || b1.CreatedAt.Before(before) {
			t.Fatalf("stored %+v", b1)
		}
		if _, err := s.AddHost(ctx, host("b1", "other")); !errors.Is(err, ErrExists) {
			t.Fatalf("adding b1 again: %v", err)
		}
		for _, h := range []api.DockerHost{host("b3", "warm"), host("b2", "warm"), host("c1", "cold")} {
			if _, err := s.AddHost(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		names := func(pool string) []string {
			list, err := s.ListHosts(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, h := range list {
				out = append(out, h.Name)
			}
			return out
		}
		if got := names("warm"); !slices.Equal(got, []string{"b1", "b2", "b3"}) {
			t.Fatalf("warm: %q", got)
		}
		if got := names(""); !slices.Equal(got, []string{"b1", "b2", "b3", "c1"}) {
			t.Fatalf("all: %q", got)
		}
		if got := names("none"); got != nil {
			t.Fatalf("an empty pool: %q", got)
		}
		drained, err := s.DrainHost(ctx, "b1", true)
		if err != nil || !drained.Draining {
			t.Fatalf("drain: %+v %v", drained, err)
		}
		// Put replaces the settings, not draining, not the creation time.
		changed := api.DockerHost{Name: "b1", URL: "tcp://b1.internal:2376", Pool: "cold", TLSCA: "SSM:/ca", TLSCert: "SSM:/cert", TLSKey: "SECRET:tls:key"}
		got, err := s.PutHost(ctx, changed)
		if err != nil || got.URL != changed.URL || got.Pool != "cold" || got.SSHKey != "" || got.TLSKey != "SECRET:tls:key" || got.MaxBuilds != 0 || got.GC != (api.GCPolicy{}) ||
			!got.Draining || !got.CreatedAt.Equal(b1.CreatedAt) {
			t.Fatalf("put: %+v %v", got, err)
		}
		if _, err := s.PutHost(ctx, api.DockerHost{Name: "nope", URL: "ssh://x@y", Pool: "p"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("put an unknown host: %v", err)
		}
		if undrained, err := s.DrainHost(ctx, "b1", false); err != nil || undrained.Draining {
			t.Fatalf("undrain: %+v %v", undrained, err)
		}
		if _, err := s.DrainHost(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("drain an unknown host: %v", err)
		}
		if err := s.DeleteHost(ctx, "b1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteHost(ctx, "b1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a second delete: %v", err)
		}
		if got := names(""); !slices.Equal(got, []string{"b2", "b3", "c1"}) {
			t.Fatalf("after delete: %q", got)
		}
	})
}

// A host's state: Since moves only when it goes up or down; a host found
// down keeps the sizes of its last good check; an older check (another
// replica's, late) changes nothing; new connection settings forget it.
func TestHostState(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.AddHost(ctx, host("b1", "warm")); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		check := func(at time.Duration, st api.HostState) (api.HostState, bool) {
			t.Helper()
			st.CheckedAt = t0.Add(at)
			got, changed, err := s.RecordHostState(ctx, "b1", st)
			if err != nil {
				t.Fatal(err)
			}
			return got, changed
		}
		good := api.HostState{Up: true, FreeBytes: 40 << 30, DiskBytes: 100 << 30, ImagesBytes: 3 << 30, BuildCacheBytes: 1 << 30}
		st, changed := check(0, good)
		if !changed || !st.Up || !st.Since.Equal(t0) || !st.CheckedAt.Equal(t0) || st.FreeBytes != good.FreeBytes || st.BuildCacheBytes != good.BuildCacheBytes {
			t.Fatalf("first check: %+v %v", st, changed)
		}
		good.FreeBytes = 39 << 30
		if st, changed = check(15*time.Second, good); changed || !st.Since.Equal(t0) || !st.CheckedAt.Equal(t0.Add(15*time.Second)) || st.FreeBytes != 39<<30 {
			t.Fatalf("still up: %+v %v", st, changed)
		}
		if st, changed = check(30*time.Second, api.HostState{Error: "dial tcp: i/o timeout"}); !changed || st.Up || !st.Since.Equal(t0.Add(30*time.Second)) ||
			st.Error != "dial tcp: i/o timeout" || st.FreeBytes != 39<<30 || st.ImagesBytes != 3<<30 {
			t.Fatalf("down: %+v %v", st, changed)
		}
		if st, changed = check(45*time.Second, api.HostState{Error: "connection refused"}); changed || !st.Since.Equal(t0.Add(30*time.Second)) || st.Error != "connection refused" {
			t.Fatalf("still down: %+v %v", st, changed)
		}
		// A replica's check from before the last one stored is dropped.
		if st, changed = check(40*time.Second, good); changed || st.Up || !st.CheckedAt.Equal(t0.Add(45*time.Second)) {
			t.Fatalf("a late check: %+v %v", st, changed)
		}
		if st, changed = check(60*time.Second, good); !changed || !st.Up || st.Error != "" || !st.Since.Equal(t0.Add(time.Minute)) {
			t.Fatalf("up again: %+v %v", st, changed)
		}
		// Up, but its disk not measured: the last measure stays.
		if st, _ = check(70*time.Second, api.HostState{Up: true, ImagesBytes: 4 << 30}); !st.Up || st.FreeBytes != 39<<30 || st.DiskBytes != 100<<30 || st.ImagesBytes != 4<<30 {
			t.Fatalf("up without a disk measure: %+v", st)
		}
		// The state is the host's, not its settings': a new pool keeps it,
		// a new URL forgets it.
		h := host("b1", "cold")
		if got, err := s.PutHost(ctx, h); err != nil || got.State == nil || !got.State.Up {
			t.Fatalf("another pool: %+v %v", got, err)
		}
		h.URL = "ssh://builder@elsewhere"
		if got, err := s.PutHost(ctx, h); err != nil || got.State != nil {
			t.Fatalf("another URL: %+v %v", got.State, err)
		}
		if st, changed = check(80*time.Second, api.HostState{Error: "no route"}); !changed || st.Up || !st.Since.Equal(t0.Add(80*time.Second)) {
			t.Fatalf("first check at the new URL: %+v %v", st, changed)
		}
		if _, _, err := s.RecordHostState(ctx, "nope", good); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown host: %v", err)
		}
	})
}

// The last GC is the latest: an older report arriving late stays out. A
// host never checked shows the GC it had.
func TestHostGC(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.AddHost(ctx, host("b1", "warm")); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		late := api.GCReport{At: t0, Reason: "before build", BuildCacheFreed: 1 << 20}
		last := api.GCReport{At: t0.Add(time.Minute), Reason: "after run", Images: []string{"app:old"}, ImagesFreed: 60 << 20, UsedBefore: 400 << 20, UsedAfter: 280 << 20}
		for _, r := range []api.GCReport{last, late} {
			if err := s.RecordHostGC(ctx, "b1", r); err != nil {
				t.Fatal(err)
			}
		}
		h, err := s.GetHost(ctx, "b1")
		if err != nil || h.State == nil || h.State.LastGC == nil {
			t.Fatalf("%+v %v", h, err)
		}
		if g := h.State.LastGC; !g.At.Equal(last.At) || g.Reason != "after run" || !slices.Equal(g.Images, last.Images) || g.ImagesFreed != 60<<20 || g.UsedAfter != 280<<20 {
			t.Fatalf("last GC %+v, want %+v", g, last)
		}
		if !h.State.CheckedAt.IsZero() || h.State.Up {
			t.Fatalf("a host never checked: %+v", h.State)
		}
		if err := s.RecordHostGC(ctx, "gone", last); err != nil {
			t.Fatalf("a removed host: %v", err)
		}
	})
}

// A run records the host it was given and the host it built on; its
// pool's affinity keys are listed once each.
func TestAssignDockerHost(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, p := range []string{"web", "web", "api", "plain"} {
			create(t, s, []string{"r1", "r2", "r3", "r4"}[i], p)
		}
		a := api.AssignedHost{Pool: "warm", Candidates: []api.HostCandidate{{Name: "b2", URL: "ssh://b@b2", SSHKey: "SSM:/k", Home: false}, {Name: "b1", URL: "ssh://b@b1"}},
			Skipped: []api.SkippedHost{{Name: "b1", Reason: "down: refused"}}}
		if r, _ := s.GetRun(ctx, "r1"); r.DockerHost != nil || r.BuildingOn() != "" {
			t.Fatalf("not assigned yet: %+v", r.DockerHost)
		}
		if err := s.AssignDockerHost(ctx, "r1", "Dockerfile", a); err != nil {
			t.Fatal(err)
		}
		if err := s.AssignDockerHost(ctx, "r2", "Dockerfile", a); err != nil {
			t.Fatal(err)
		}
		if err := s.AssignDockerHost(ctx, "r3", "docker/api.Dockerfile", api.AssignedHost{Pool: "warm"}); err != nil {
			t.Fatal(err)
		}
		r, err := s.GetRun(ctx, "r1")
		if err != nil || r.DockerHost == nil || r.DockerHost.Pool != "warm" || len(r.DockerHost.Candidates) != 2 || r.DockerHost.Candidates[0].SSHKey != "SSM:/k" ||
			r.DockerHost.Skipped[0].Reason != "down: refused" || r.BuildingOn() != "b2" {
			t.Fatalf("r1: %+v %v", r.DockerHost, err)
		}
		if err := s.SetBuiltOn(ctx, "r1", "b1"); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.GetRun(ctx, "r1"); r.BuiltOn != "b1" || r.BuildingOn() != "b1" {
			t.Fatalf("built on: %q %q", r.BuiltOn, r.BuildingOn())
		}
		if r, _ := s.GetRun(ctx, "r3"); r.BuildingOn() != "" {
			t.Fatalf("a run with no candidate builds on %q", r.BuildingOn())
		}
		keys, err := s.PoolKeys(ctx)
		want := []PoolKey{{Pool: "warm", Project: "api", Dockerfile: "docker/api.Dockerfile"}, {Pool: "warm", Project: "web", Dockerfile: "Dockerfile"}}
		if err != nil || !slices.Equal(keys, want) {
			t.Fatalf("pool keys %+v %v, want %+v", keys, err, want)
		}
		if err := s.AssignDockerHost(ctx, "nope", "Dockerfile", a); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown run: %v", err)
		}
		if err := s.SetBuiltOn(ctx, "nope", "b1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown run: %v", err)
		}
	})
}

// A database at the schema before Docker hosts upgrades: its runs were
// given no host, and hosts can be added.
func TestUpgradeToDockerHosts(t *testing.T) {
	ctx := context.Background()
	upgrade := func(t *testing.T, db *sqldb.DB) {
		t.Helper()
		if err := db.Migrate(ctx, "runs", migrations[:4]); err != nil {
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
		if r, err := s.GetRun(ctx, "old"); err != nil || r.DockerHost != nil || r.BuiltOn != "" {
			t.Fatalf("the old run: %+v %v", r, err)
		}
		if _, err := s.AddHost(ctx, host("b1", "warm")); err != nil {
			t.Fatal(err)
		}
		if keys, err := s.PoolKeys(ctx); err != nil || len(keys) != 0 {
			t.Fatalf("pool keys of old runs: %+v %v", keys, err)
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
