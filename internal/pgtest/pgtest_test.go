package pgtest

import (
	"database/sql"
	"os"
	"testing"
)

var pg Shared

func TestMain(m *testing.M) { code := m.Run(); pg.Close(); os.Exit(code) }

func TestDatabasesAreSeparate(t *testing.T) {
	a, b := pg.DB(t), pg.DB(t)
	if a == b {
		t.Fatalf("two tests got one database: %s", a)
	}
	for _, url := range []string{a, b} {
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TABLE t (x int)`); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		var version string
		if err := db.QueryRow(`SHOW server_version`).Scan(&version); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: PostgreSQL %s", url, version)
	}
}
