package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Attacks on the shared (PostgreSQL) store: two *Store values on one
// database are two replicas.

// Retention on one replica and a deploy on another: the deploy finds an
// old blob already stored (so it does not upload it again) and names it in
// its new bundle and run, between the moment the retention computed the
// blobs to keep and the moment it deleted the others. The blob must
// survive: a run names it.
func TestAttackRetentionDeletesABlobANewBundleReuses(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	deploy, retention := openPostgres(t, url), openPostgres(t, url)
	content := "source file kept unchanged for days\n"
	sum := sha256.Sum256([]byte(content))
	hash := hex.EncodeToString(sum[:])
	if err := deploy.PutBlob(ctx, hash, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	// Uploaded by a deploy a day ago, whose run retention pruned since.
	if _, err := deploy.DB().ExecContext(ctx, `UPDATE blobs SET created_at = ?`, time.Now().Add(-24*time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	grace := time.Now().Add(-6 * time.Hour)

	// Replica R: the blobs to keep, as of now.
	keep, err := retention.PruneBundles(ctx, grace)
	if err != nil {
		t.Fatal(err)
	}
	// Replica D: POST /v1/bundles/missing says the blob is there, so the
	// client uploads nothing; POST /v1/bundles checks it again and stores
	// the manifest; POST /v1/runs queues the run.
	if ok, err := deploy.HasBlob(ctx, hash); err != nil || !ok {
		t.Fatalf("the blob should be stored: %v %v", ok, err)
	}
	m := api.Manifest{Files: []api.File{{Path: "src.txt", Mode: 0o644, Size: int64(len(content)), SHA256: hash}}}
	if err := deploy.PutBundle(ctx, "bundle-new", m); err != nil {
		t.Fatal(err)
	}
	if err := deploy.CreateRun(ctx, StoredRun{Run: api.Run{ID: "new", Project: "p", Status: api.StatusQueued, Bundle: "bundle-new", CreatedAt: time.Now()}, ProjectFile: "project: p\n"}); err != nil {
		t.Fatal(err)
	}
	// Replica R goes on with what it decided before.
	if _, err := retention.PruneBlobs(ctx, keep, grace); err != nil {
		t.Fatal(err)
	}
	if ok, err := deploy.HasBlob(ctx, hash); err != nil || !ok {
		t.Fatalf("retention deleted blob %s, which queued run %q's bundle names (has=%v err=%v): its runner will get a bundle with a file missing", hash[:12], "new", ok, err)
	}
}

// An agent token's max concurrency holds across replicas: an agent (or
// one holding its token) asking two replicas at once for runs gets no
// more than its limit.
func TestAttackAgentLimitAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	if err := a.CreateAgent(ctx, "greedy", "token-greedy", nil, 1); err != nil {
		t.Fatal(err)
	}
	for round := range 40 {
		create(t, a, fmt.Sprintf("x%02d", round), fmt.Sprintf("px%d", round))
		create(t, b, fmt.Sprintf("y%02d", round), fmt.Sprintf("py%d", round))
		var wg sync.WaitGroup
		start := make(chan struct{})
		var mu sync.Mutex
		var got []string
		for i, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				run, ok, err := s.LeaseNext(ctx, "greedy", fmt.Sprintf("h%d-%d", round, i), 1, func(StoredRun) bool { return true })
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					got = append(got, run.ID)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(got) > 1 {
			t.Fatalf("round %d: agent %q, limited to 1 run at a time, holds %d: %v (each replica counted its active runs before the other's lease committed)", round, "greedy", len(got), got)
		}
		for _, id := range got {
			if _, err := a.Transition(ctx, id, []string{api.StatusProvisioning}, api.StatusSucceeded, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		// What was left queued is taken next round by this same agent;
		// finish it too so each round starts with the agent idle.
		for {
			run, ok, err := a.LeaseNext(ctx, "greedy", fmt.Sprintf("h%d-rest", round), 1, func(StoredRun) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if _, err := a.Transition(ctx, run.ID, []string{api.StatusProvisioning}, api.StatusSucceeded, "", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Someone who reads the database (or a pg_dump of it) learns no secret:
// parameters are sealed with the master key, tokens hashed. The values a
// deploy passes from the caller's environment (env.pass, e.g.
// MY_API_TOKEN in the README) and those given with -e are secrets too.
func TestAttackDatabaseReaderLearnsPassedValues(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, pg.DB(t))
	s.SealWith(testSealer(t))
	const passed, given = "tok-passed-0b9e8f7a6c5d", "given-value-77aa66bb55cc"
	err := s.CreateRun(ctx, StoredRun{Run: api.Run{ID: "r1", Project: "p", Status: api.StatusQueued, Bundle: "b", CreatedAt: time.Now()},
		ProjectFile: "project: p\n", Pass: map[string]string{"MY_API_TOKEN": passed}, RunVars: map[string]string{"DEPLOY_TOKEN": given}})
	if err != nil {
		t.Fatal(err)
	}
	var dump string
	if err := s.DB().QueryRowContext(ctx, `SELECT pass || vars FROM runs WHERE id = 'r1'`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{passed, given} {
		if strings.Contains(dump, v) {
			t.Errorf("the runs table holds %q in plaintext: %s", v, dump)
		}
	}
	// The server reads them back.
	r, err := s.GetRun(ctx, "r1")
	if err != nil || r.Pass["MY_API_TOKEN"] != passed || r.RunVars["DEPLOY_TOKEN"] != given {
		t.Fatalf("read back: %v %v %v", r.Pass, r.RunVars, err)
	}
	// Moved to another row (another run's id), a sealed value opens no more.
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET id = 'r2' WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRun(ctx, "r2"); err != nil || len(r.Pass) != 0 {
		t.Fatalf("a sealed value opened under another run: %v %v", r.Pass, err)
	}
}

// testSealer seals as the server does, with a master key of its own.
func testSealer(t *testing.T) Sealer {
	t.Helper()
	p, err := params.OpenStore(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Replicas starting together on a new database all come up: the schema's
// migrations take turns, none fails on another's half-made table.
func TestAttackReplicasStartTogether(t *testing.T) {
	url := pg.DB(t)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := sqldb.OpenPostgres(context.Background(), url)
			if err != nil {
				t.Error(err)
				return
			}
			s, err := New(context.Background(), db)
			if err != nil {
				db.Close()
				t.Errorf("a replica starting with others: %v", err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
}
