package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

func TestSessions(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		live := StoredSession{IDHash: "h1", Token: "t1", Expires: time.Now().Add(time.Hour)}
		old := StoredSession{IDHash: "h2", Token: "t1", Expires: time.Now().Add(-time.Second)}
		for _, sess := range []StoredSession{old, live} {
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		if got, ok, err := s.LookupSession(ctx, "h1"); !ok || err != nil || got.Token != "t1" {
			t.Fatalf("live session: %+v %v %v", got, ok, err)
		}
		if _, ok, _ := s.LookupSession(ctx, "h2"); ok {
			t.Fatal("an expired session was found")
		}
		if err := s.RevokeSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.LookupSession(ctx, "h1"); ok {
			t.Fatal("a revoked session was found")
		}
	})
}

// A session opened before CSRF tokens were derived stays signed in after
// the upgrade, and its stored CSRF token is gone from the database.
func TestUpgradeDropsSessionsCSRF(t *testing.T) {
	ctx := context.Background()
	upgrade := func(t *testing.T, db *sqldb.DB) {
		t.Helper()
		if err := db.Migrate(ctx, "runs", migrations[:6]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO sessions (id_hash, csrf, token, expires) VALUES ('h1', 'plain-csrf', 't1', ?)`, time.Now().Add(time.Hour).UnixNano()); err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, db)
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if got, ok, err := s.LookupSession(ctx, "h1"); !ok || err != nil || got.Token != "t1" {
			t.Fatalf("the session of before: %+v %v %v", got, ok, err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE token = 't1'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d %v", n, err)
		}
		if _, err := db.ExecContext(ctx, `SELECT csrf FROM sessions`); err == nil {
			t.Fatal("sessions.csrf is still there")
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

func TestSettingFirstWriterWins(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if v, err := s.Setting(ctx, "k", "first"); err != nil || v != "first" {
			t.Fatalf("%q %v", v, err)
		}
		if v, err := s.Setting(ctx, "k", "second"); err != nil || v != "first" {
			t.Fatalf("%q %v", v, err)
		}
	})
}

func TestBlobsRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, size := range []int{0, 1, blobChunk, 2*blobChunk + 17} {
			content := make([]byte, size)
			_, _ = rand.Read(content)
			hash := fmt.Sprint("h", size)
			if err := s.PutBlob(ctx, hash, bytes.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			// Stored once: a second upload changes nothing.
			if err := s.PutBlob(ctx, hash, bytes.NewReader([]byte("other"))); err != nil {
				t.Fatal(err)
			}
			if n, err := s.BlobSize(ctx, hash); err != nil || n != int64(size) {
				t.Fatalf("size %d: %d %v", size, n, err)
			}
			r, err := s.OpenBlob(ctx, hash)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("size %d: read %d bytes, %v", size, len(got), err)
			}
			if _, err := s.DeleteBlob(ctx, hash, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.OpenBlob(ctx, hash); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a deleted blob: %v", err)
			}
		}
	})
}

// What one server publishes, another hears.
func TestPublishListen(t *testing.T) {
	url := pg.DB(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heard := make(chan string, 10)
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		b.Listen(ctx, slog.New(slog.DiscardHandler), func(p string) { heard <- p })
	}()
	defer func() { cancel(); <-listened }()
	// The listener needs a moment to connect; publish until it hears.
	deadline := time.After(10 * time.Second)
	for {
		if err := a.Publish(ctx, "run:r1"); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-heard:
			if p != "run:r1" {
				t.Fatalf("heard %q", p)
			}
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("nothing heard")
		}
	}
}

// A blob whose chunks are gone part way reads as an error, never as a
// shorter blob.
func TestOpenBlobWithAMissingChunk(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		content := make([]byte, 2*blobChunk+10)
		if err := s.PutBlob(ctx, "h", bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, `DELETE FROM blob_chunks WHERE hash = 'h' AND n = 1`); err != nil {
			t.Fatal(err)
		}
		r, err := s.OpenBlob(ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	})
}

// Every table a migration adds is moved by CopyTo, column for column,
// but what stays behind on purpose.
func TestCopiedListsEveryTable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stays := map[string]bool{"sessions": true, "settings": true, "schema_versions": true, "sqlite_sequence": true}
	rows, err := s.DB().QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		if !stays[name] {
			tables = append(tables, name)
		}
	}
	rows.Close()
	listed := map[string][]string{}
	for _, c := range copied {
		listed[c.table] = c.columns
	}
	for _, table := range tables {
		cols, ok := listed[table]
		if !ok {
			t.Errorf("table %s is not moved by CopyTo", table)
			continue
		}
		rows, err := s.DB().QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var col string
			rows.Scan(&col)
			if !slices.Contains(cols, col) {
				t.Errorf("column %s.%s is not moved by CopyTo", table, col)
			}
		}
		rows.Close()
	}
}
