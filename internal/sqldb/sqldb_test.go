package sqldb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jetway-dev/jetway/internal/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) { code := m.Run(); pg.Close(); os.Exit(code) }

func TestRebind(t *testing.T) {
	pgdb := &DB{Dialect: Postgres}
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`a = ? AND b IN (?, ?)`, `a = $1 AND b IN ($2, $3)`},
		{`x = '?' AND y = ?`, `x = '?' AND y = $1`},
		{`x = 'it''s ?' AND y = ?`, `x = 'it''s ?' AND y = $1`},
	} {
		if got := pgdb.Rebind(tc.in); got != tc.want {
			t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := (&DB{Dialect: SQLite}).Rebind(tc.in); got != tc.in {
			t.Errorf("SQLite Rebind(%q) = %q", tc.in, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"password in the user part", "postgres://jetway:s3cret@db:5432/jetway", "postgres://jetway:xxxxx@db:5432/jetway"},
		{"no password", "postgres://jetway@db/jetway", "postgres://jetway@db/jetway"},
		{"socket host", "postgres:///jetway?host=/run", "postgres:///jetway?host=/run"},
		{"password in the query", "postgres://db/jetway?user=j&password=s3cret", "postgres://db/jetway?password=xxxxx&user=j"},
		{"at sign in the query", "postgres://jetway:s3cret@db/jetway?application_name=a@b", "postgres://jetway:xxxxx@db/jetway?application_name=a@b"},
	} {
		if got := Redact(tc.in); got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("%s: Redact(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// engines opens an empty database of each engine.
func engines(t *testing.T) map[string]*DB {
	ctx := context.Background()
	lite, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pgdb, err := OpenPostgres(ctx, pg.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgdb.Close() })
	return map[string]*DB{"sqlite": lite, "postgres": pgdb}
}

func TestMigrate(t *testing.T) {
	steps := []Migration{
		{Name: "things", Up: Statements(`CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`, `CREATE TABLE things (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)`)},
		{Name: "things.size", Up: Statements(`ALTER TABLE things ADD COLUMN size INTEGER NOT NULL DEFAULT 0`, `ALTER TABLE things ADD COLUMN size BIGINT NOT NULL DEFAULT 0`)},
	}
	for name, db := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := db.Migrate(ctx, "test", steps[:1]); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO things (name) VALUES (?)`, "a"); err != nil {
				t.Fatal(err)
			}
			// Again: nothing to do; then the next step keeps the data.
			if err := db.Migrate(ctx, "test", steps[:1]); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, "test", steps); err != nil {
				t.Fatal(err)
			}
			var n, size int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(size) FROM things WHERE name = ?`, "a").Scan(&n, &size); err != nil || n != 1 {
				t.Fatalf("after migrating: %d rows, %v", n, err)
			}
			if v, err := db.Version(ctx, "test"); err != nil || v != 2 {
				t.Fatalf("version %d, %v", v, err)
			}
			// A binary that knows one step less refuses the database.
			err := db.Migrate(ctx, "test", steps[:1])
			var tooNew *SchemaTooNewError
			if !errors.As(err, &tooNew) || tooNew.Have != 2 || tooNew.Supports != 1 {
				t.Fatalf("an older binary: %v", err)
			}
			// A failing step leaves nothing half done.
			bad := append(steps, Migration{Name: "broken", Up: Statements(`ALTER TABLE things ADD COLUMN x INTEGER; SELECT nope FROM nowhere`, `ALTER TABLE things ADD COLUMN x INTEGER; SELECT nope FROM nowhere`)})
			if err := db.Migrate(ctx, "test", bad); err == nil {
				t.Fatal("a broken step succeeded")
			}
			if v, _ := db.Version(ctx, "test"); v != 2 {
				t.Fatalf("version %d after a failed step", v)
			}
			if _, err := db.ExecContext(ctx, `SELECT x FROM things`); err == nil {
				t.Fatal("the failed step's column survived it")
			}
		})
	}
}

// Replicas starting together on one database migrate it once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	steps := []Migration{{Name: "things", Up: Statements("", `CREATE TABLE things (id BIGSERIAL PRIMARY KEY)`)}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := OpenPostgres(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- db.Migrate(ctx, "test", steps)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// OnError hears of the database failing, not of the answers stores
// expect (a missing row, a unique refusal, a cancelled context).
func TestOnError(t *testing.T) {
	ctx := context.Background()
	db, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var heard []error
	db.OnError = func(err error) { heard = append(heard, err) }
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, "a"); err != nil {
		t.Fatal(err)
	}
	expected := []func() error{
		func() error { _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, "a"); return err },
		func() error {
			var k string
			return db.QueryRowContext(ctx, `SELECT k FROM t WHERE k = ?`, "b").Scan(&k)
		},
		func() error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := db.QueryContext(cctx, `SELECT k FROM t`)
			return err
		},
	}
	for i, f := range expected {
		if err := f(); err == nil {
			t.Errorf("expected error %d did not happen", i)
		}
	}
	if len(heard) != 0 {
		t.Errorf("OnError heard expected answers: %v", heard)
	}
	failures := []func() error{
		func() error { _, err := db.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`); return err },
		func() error { _, err := db.QueryContext(ctx, `SELECT nothing FROM t`); return err },
		func() error { return db.QueryRowContext(ctx, `SELECT * FROM nowhere`).Err() },
		func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			_, err = tx.ExecContext(ctx, `UPDATE nowhere SET x = 1`)
			return err
		},
	}
	for i, f := range failures {
		if err := f(); err == nil {
			t.Errorf("failure %d did not fail", i)
		}
	}
	if len(heard) != len(failures) {
		t.Errorf("OnError heard %d failures, want %d: %v", len(heard), len(failures), heard)
	}
}
