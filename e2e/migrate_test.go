package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/sqldb"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

// migrationProject deploys a run that prints a SecureString reference.
func migrationProject(t *testing.T, socket, name string) string {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"jetway.yaml": fmt.Sprintf(`project: %s
env:
  vars:
    DOCKER_HOST: unix://%s
    API_KEY: SSM:/migrate/API_KEY
phases:
  build: ['echo "key is $API_KEY"', 'cat source.txt']
`, name, socket), "source.txt": "source of " + name + "\n"})
	return dir
}

func (s *serverProc) deployWait(t *testing.T, dir string) api.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, out, errOut := s.jetway(t, ctx, dir, "deploy", "--detach")
	if code != 0 {
		t.Fatalf("deploy: exit %d %s", code, errOut)
	}
	return s.waitFinished(t, []string{strings.TrimSpace(out)}, 2*time.Minute)[0]
}

// TestMigrateToPostgres: a data dir with runs, logs, parameters and blobs
// moves into PostgreSQL with jetway server migrate; afterwards everything
// is readable, secrets still decrypt, and no secret value is in the
// database in plaintext. A backup taken while the server ran restores.
func TestMigrateToPostgres(t *testing.T) {
	b := bed.Get(t)
	const secret = "s3cr3t-migrated-value-91"
	home := t.TempDir()
	s := startServer(t, home, freePort(t), 1)
	s.putParam(t, "/migrate/API_KEY", "SecureString", secret)
	dir := migrationProject(t, b.LocalSocket, "migrated")
	before := s.deployWait(t, dir)
	if before.Status != api.StatusSucceeded {
		t.Fatalf("run before the move: %s %s", before.Status, before.Reason)
	}
	logBefore := s.storedLog(t, before.ID)
	if !strings.Contains(logBefore, "key is [MASKED]") || !strings.Contains(logBefore, "source of migrated") {
		t.Fatalf("log before the move:\n%s", logBefore)
	}

	// A backup while the server runs, restored into a server of its own.
	backup := filepath.Join(t.TempDir(), "backup")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code, out, errOut := s.jetway(t, ctx, "/", "server", "backup", "--data", s.DataDir, backup); code != 0 {
		t.Fatalf("backup: exit %d %s %s", code, out, errOut)
	}
	restoredHome := t.TempDir()
	restoredData := filepath.Join(restoredHome, ".local", "share")
	if err := os.MkdirAll(restoredData, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(backup, filepath.Join(restoredData, "jetway")); err != nil {
		t.Fatal(err)
	}
	restored := startServer(t, restoredHome, freePort(t), 0)
	if got := restored.storedLog(t, before.ID); got != logBefore {
		t.Fatalf("the restored log differs:\n%s", got)
	}
	restored.stop()

	s.stop()
	url := pg.DB(t)
	code, out, errOut := s.jetway(t, ctx, "/", "server", "migrate", "--from", s.DataDir, "--to", url)
	if code != 0 {
		t.Fatalf("migrate: exit %d %s %s", code, out, errOut)
	}
	t.Log(out)
	if !strings.Contains(out, "copied 1 runs") {
		t.Errorf("migrate says: %s", out)
	}

	// Nothing in the database holds the secret's value.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	found := false
	for _, table := range tables {
		var dump sql.NullString
		if err := db.QueryRow(`SELECT string_agg(t::text, E'\n') FROM ` + table + ` t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(dump.String, secret) {
			t.Errorf("table %s holds the secret in plaintext", table)
		}
		found = found || strings.Contains(dump.String, "source of migrated")
	}
	if !found {
		t.Error("the bundle's content is in no table: the search cannot have worked")
	}

	// The same data dir (token, master key) on the database.
	s2 := startServerWith(t, home, freePort(t), 1, "--allow-local-docker", "--database", url)
	if got := s2.storedLog(t, before.ID); got != logBefore {
		t.Fatalf("the log after the move differs:\n%s\nwas:\n%s", got, logBefore)
	}
	code, out, errOut = s2.jetway(t, ctx, "/", "params", "get", "--decrypt", "/migrate/API_KEY")
	if code != 0 || !strings.Contains(out, secret) {
		t.Fatalf("the secret after the move: exit %d %q %s", code, out, errOut)
	}
	after := s2.deployWait(t, dir)
	logAfter := s2.storedLog(t, after.ID)
	if after.Status != api.StatusSucceeded || !strings.Contains(logAfter, "key is [MASKED]") {
		t.Fatalf("a run after the move: %s %s\n%s", after.Status, after.Reason, logAfter)
	}
}

// TestNewerSchemaRefused: a server started on a database that a newer
// jetway has upgraded refuses, saying what to do.
func TestNewerSchemaRefused(t *testing.T) {
	url := pg.DB(t)
	s := startServerWith(t, t.TempDir(), freePort(t), 0, "--database", url)
	s.stop()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE schema_versions SET version = version + 1 WHERE component = 'runs'`); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(jetwayBinary(t), "server", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--database", url)
	cmd.Env = []string{"HOME=" + s.Home, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the server started:\n%s", out)
	}
	if !strings.Contains(string(out), "newer than this jetway knows") {
		t.Fatalf("the refusal says:\n%s", out)
	}
}

// TestMigrateIntoAServedDatabase: a move into a database servers use is
// refused and leaves it as it was: no mark that would stop its servers.
func TestMigrateIntoAServedDatabase(t *testing.T) {
	url := pg.DB(t)
	s := startServerWith(t, t.TempDir(), freePort(t), 0, "--database", url)
	ctx := context.Background()
	db, err := sqldb.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	served, err := storepkg.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	if err := served.CreateRun(ctx, storepkg.StoredRun{Run: api.Run{ID: "live1", Project: "p", Status: api.StatusSucceeded, Bundle: "b", CreatedAt: time.Now()}, ProjectFile: "project: p\n"}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(jetwayBinary(t), "server", "migrate", "--from", oldDataDir(t, 1), "--to", url).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "holds 1 runs already") {
		t.Fatalf("a move into a served database: %v %s", err, out)
	}
	if state, ok, _ := served.LookupSetting(ctx, "migration"); ok {
		t.Fatalf("the refused move left the mark %q", state)
	}
	s.stop()
	// Its servers still start.
	startServerWith(t, s.Home, freePort(t), 0, "--database", url).stop()
}
