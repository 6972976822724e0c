package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Agents leasing through two stores on one database (two servers) each
// take every run exactly once, never two runs of a project at a time, in
// queue order per project.
func TestLeaseNextAcrossServers(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	servers := []*Store{openPostgres(t, url), openPostgres(t, url)}
	const runs, projects = 120, 6
	for i := range runs {
		create(t, servers[i%2], fmt.Sprintf("r%03d", i), fmt.Sprintf("p%d", i%projects))
	}
	for a := range 8 {
		if err := servers[0].CreateAgent(ctx, fmt.Sprintf("agent-%d", a), fmt.Sprintf("token-%d", a), nil, 1); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	leased := map[string]int{}
	active := map[string]string{} // project → run
	var order []string
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for a := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, agent := servers[a%2], fmt.Sprintf("agent-%d", a)
			idle := 0
			for idle < 20 {
				run, ok, err := s.LeaseNext(ctx, agent, "hash-"+agent, 1, func(StoredRun) bool { return true })
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					idle++
					time.Sleep(5 * time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				leased[run.ID]++
				if other, busy := active[run.Project]; busy {
					errs <- fmt.Errorf("%s leased while %s of project %s is active", run.ID, other, run.Project)
				}
				active[run.Project] = run.ID
				order = append(order, run.ID)
				mu.Unlock()
				// The run is active for a while: a second lease of its
				// project would land in this window.
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				delete(active, run.Project)
				mu.Unlock()
				if ok, err := s.Transition(ctx, run.ID, []string{api.StatusProvisioning}, api.StatusSucceeded, "", nil); err != nil || !ok {
					errs <- fmt.Errorf("finishing %s: %v %v", run.ID, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(leased) != runs {
		t.Fatalf("%d of %d runs leased", len(leased), runs)
	}
	for id, n := range leased {
		if n != 1 {
			t.Errorf("%s leased %d times", id, n)
		}
	}
	// Within a project, runs start in the order they were queued.
	last := map[string]string{}
	for _, id := range order {
		var i int
		fmt.Sscanf(id, "r%03d", &i)
		p := fmt.Sprintf("p%d", i%projects)
		if last[p] > id {
			t.Errorf("%s started after %s in project %s", id, last[p], p)
		}
		last[p] = id
	}
}

// The database refuses a second active run of a project, whoever asks.
func TestOneActiveRunPerProject(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, name := range []string{"x", "y", "z"} {
			if err := s.CreateAgent(ctx, name, "token-"+name, nil, 4); err != nil {
				t.Fatal(err)
			}
		}
		create(t, s, "a1", "a")
		create(t, s, "a2", "a")
		if ok, err := s.LeaseRun(ctx, "a1", "x", "h1"); !ok || err != nil {
			t.Fatalf("first lease: %v %v", ok, err)
		}
		if ok, err := s.LeaseRun(ctx, "a2", "y", "h2"); ok || err != nil {
			t.Fatalf("second lease of the project: %v %v", ok, err)
		}
		if _, ok, err := s.LeaseNext(ctx, "y", "h2", 4, func(StoredRun) bool { return true }); ok || err != nil {
			t.Fatalf("LeaseNext with the project busy: %v %v", ok, err)
		}
		if ok, _ := s.Transition(ctx, "a1", []string{api.StatusProvisioning}, api.StatusSucceeded, "", nil); !ok {
			t.Fatal("finishing a1")
		}
		run, ok, err := s.LeaseNext(ctx, "y", "h2", 4, func(StoredRun) bool { return true })
		if !ok || err != nil || run.ID != "a2" || run.Agent != "y" || run.Status != api.StatusProvisioning {
			t.Fatalf("after a1 ended: %+v %v %v", run, ok, err)
		}
		// runs_on is stored with the run and given to match.
		if err := s.CreateRun(ctx, StoredRun{Run: api.Run{ID: "b1", Project: "b", Status: api.StatusQueued, CreatedAt: time.Now(), Bundle: "b"},
			ProjectFile: "project: b\n", RunsOn: map[string]string{"pool": "gpu"}}); err != nil {
			t.Fatal(err)
		}
		match := func(r StoredRun) bool { return r.RunsOn["pool"] == "gpu" }
		if run, ok, err := s.LeaseNext(ctx, "z", "h3", 4, match); !ok || err != nil || run.ID != "b1" {
			t.Fatalf("lease by labels: %+v %v %v", run, ok, err)
		}
	})
}

// A binary older than the database's schema refuses to use it.
func TestNewerSchemaRefused(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.db.ExecContext(ctx, `UPDATE schema_versions SET version = ? WHERE component = 'runs'`, len(migrations)+1); err != nil {
			t.Fatal(err)
		}
		_, err := New(ctx, s.db)
		var tooNew *sqldb.SchemaTooNewError
		if !errors.As(err, &tooNew) {
			t.Fatalf("opening a newer schema: %v", err)
		}
		t.Log(err)
	})
}

// On a shared database a revoked or unknown agent gets no run, whichever
// server it asks.
func TestRevokedAgentLeasesNothing(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, pg.DB(t))
	create(t, s, "r1", "p")
	match := func(StoredRun) bool { return true }
	if _, ok, err := s.LeaseNext(ctx, "stranger", "h", 4, match); ok || err != nil {
		t.Fatalf("an unknown agent: %v %v", ok, err)
	}
	if err := s.CreateAgent(ctx, "builder", "token", nil, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAgent(ctx, "builder"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.LeaseNext(ctx, "builder", "h", 4, match); ok || err != nil {
		t.Fatalf("a revoked agent: %v %v", ok, err)
	}
	if err := s.EnsureAgent(ctx, "local-x-1"); err != nil {
		t.Fatal(err)
	}
	if run, ok, err := s.LeaseNext(ctx, "local-x-1", "h", 4, match); !ok || err != nil || run.ID != "r1" {
		t.Fatalf("a server's own agent: %+v %v %v", run, ok, err)
	}
}

// An agent's silence is measured by the clock that stamped its contact:
// on PostgreSQL the database's, whatever the server's clock says.
func TestAgentSilences(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateAgent(ctx, "builder", "token", nil, 1); err != nil {
			t.Fatal(err)
		}
		if got, err := s.AgentSilences(ctx); err != nil || len(got) != 0 {
			t.Fatalf("never seen: %v %v", got, err)
		}
		// A server whose clock is 45 s behind records the contact.
		behind := time.Now().Add(-45 * time.Second)
		if err := s.AgentSeen(ctx, api.Agent{Name: "builder", LastSeen: &behind}); err != nil {
			t.Fatal(err)
		}
		got, err := s.AgentSilences(ctx)
		if err != nil {
			t.Fatal(err)
		}
		silence, ok := got["builder"]
		want := 45 * time.Second // SQLite: one server, its clock is the clock
		if s.Shared() {
			want = 0
		}
		if !ok || silence < want-5*time.Second || silence > want+5*time.Second {
			t.Fatalf("silence %v, want about %v", silence, want)
		}
	})
}

// A revocation ends the agent's runs' tokens with it, and can be repeated;
// a server's own agent, registered again, has no token.
func TestRevokeAgent(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateAgent(ctx, "builder", "agent-token", nil, 4); err != nil {
			t.Fatal(err)
		}
		create(t, s, "r1", "p")
		if ok, err := s.LeaseRun(ctx, "r1", "builder", "run-token"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		for range 2 {
			if err := s.RevokeAgent(ctx, "builder"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RunOfToken(ctx, "run-token"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the revoked agent's run token: %v", err)
			}
		}
		if err := s.RevokeAgent(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoking an unknown agent: %v", err)
		}
		// A token once given under a server's agent name stays dead.
		if err := s.CreateAgent(ctx, "local-x-1", "old-token", nil, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAgent(ctx, "local-x-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureAgent(ctx, "local-x-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AgentOfToken(ctx, "old-token"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a revoked token under a server's agent name: %v", err)
		}
	})
}
