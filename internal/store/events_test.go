package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestAppendEventsOnce: a batch of events is stored once, whatever is
// resent, and only after what is stored already.
func TestAppendEventsOnce(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		create(t, s, "r", "p")
		steps := []struct {
			name         string
			after, upTo  int64
			text         string
			want         bool
			wantAcked    int64
			wantLogAfter string
		}{
			{"first batch", 0, 3, "one\n", true, 3, "one\n"},
			{"the same batch again", 0, 3, "one\n", false, 3, "one\n"},
			{"a batch from a stale view", 2, 4, "stale\n", false, 3, "one\n"},
			{"the next batch", 3, 5, "two\n", true, 5, "one\ntwo\n"},
			{"events without text", 5, 6, "", true, 6, "one\ntwo\n"},
		}
		for _, st := range steps {
			ok, err := s.AppendEvents(ctx, "r", st.after, st.upTo, st.text)
			if err != nil || ok != st.want {
				t.Fatalf("%s: AppendEvents = %v, %v; want %v", st.name, ok, err, st.want)
			}
			acked, err := s.EventsAcked(ctx, "r")
			if err != nil || acked != st.wantAcked {
				t.Fatalf("%s: EventsAcked = %d, %v; want %d", st.name, acked, err, st.wantAcked)
			}
			chunks, _ := s.ReadLog(ctx, "r", 0)
			var log strings.Builder
			for _, c := range chunks {
				log.WriteString(c.Data)
			}
			if log.String() != st.wantLogAfter {
				t.Fatalf("%s: log %q, want %q", st.name, log.String(), st.wantLogAfter)
			}
		}
		if ok, err := s.AppendEvents(ctx, "nope", 0, 1, "x\n"); ok || err != nil {
			t.Errorf("AppendEvents of an unknown run: %v %v", ok, err)
		}
		if _, err := s.EventsAcked(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("EventsAcked of an unknown run: %v", err)
		}
	})
}

// schemaV1 is the runs table as the first release created it, before
// events were numbered.
const schemaV1 = `
CREATE TABLE runs (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	project      TEXT NOT NULL,
	status       TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	env          TEXT NOT NULL DEFAULT '',
	started_by   TEXT NOT NULL DEFAULT '',
	git          TEXT NOT NULL DEFAULT '{}',
	bundle       TEXT NOT NULL,
	project_file TEXT NOT NULL,
	pass         TEXT NOT NULL DEFAULT '{}',
	created_at   INTEGER NOT NULL,
	started_at   INTEGER,
	finished_at  INTEGER,
	summary      TEXT
);
INSERT INTO runs (id, project, status, bundle, project_file, created_at) VALUES ('old', 'p', 'succeeded', 'b', 'project: p', 1);`

// TestOpenUpgradesAnOldDatabase: a jetway.db from before the events_acked
// column opens, keeps its runs, gains the column, and opens again.
func TestOpenUpgradesAnOldDatabase(t *testing.T) {
	dir, ctx := t.TempDir(), context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "jetway.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, schemaV1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for i := range 2 {
		s, err := Open(ctx, dir)
		if err != nil {
			t.Fatalf("open %d: %v", i+1, err)
		}
		if r, err := s.GetRun(ctx, "old"); err != nil || r.Status != "succeeded" {
			t.Fatalf("open %d: the old run: %+v %v", i+1, r, err)
		}
		if acked, err := s.EventsAcked(ctx, "old"); err != nil || acked != 0 {
			t.Fatalf("open %d: EventsAcked = %d, %v", i+1, acked, err)
		}
		s.Close()
	}
}
