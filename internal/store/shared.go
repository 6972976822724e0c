package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Sessions: the dashboard's signed-in browsers, kept by a digest of
// their cookie so the table holds no usable cookie.

// CreateSession stores a session and forgets the expired ones.
func (s *Store) CreateSession(ctx context.Context, sess StoredSession) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= ?`, time.Now().UnixNano()); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, token, expires) VALUES (?, ?, ?)`, sess.IDHash, sess.Token, sess.Expires.UnixNano())
	return err
}

// LookupSession finds a live session by the digest of its ID.
func (s *Store) LookupSession(ctx context.Context, idHash string) (StoredSession, bool, error) {
	sess := StoredSession{IDHash: idHash}
	var expires int64
	err := s.db.QueryRowContext(ctx, `SELECT token, expires FROM sessions WHERE id_hash = ? AND expires > ?`, idHash, time.Now().UnixNano()).Scan(&sess.Token, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, false, nil
	}
	if err != nil {
		return sess, false, err
	}
	sess.Expires = time.Unix(0, expires)
	return sess, true, nil
}

// RevokeSession ends a session.
func (s *Store) RevokeSession(ctx context.Context, idHash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return err
}

// Settings are values every server of a database must agree on.

// Setting returns the stored value of name, or sets it to value when it
// has none, and returns what is stored: the first server to start
// decides, the others learn.
func (s *Store) Setting(ctx context.Context, name, value string) (string, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return "", err
	}
	var stored string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&stored)
	return stored, err
}

// SetSetting stores value under name, replacing what was there.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// LookupSetting returns the stored value of name, if any.
func (s *Store) LookupSetting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}

// Notifications between servers of one PostgreSQL database: a server
// tells the others that a run's log or state changed ("run:ID"), or that
// the queue did ("queue"), so their followers and waiting agents wake
// within the moment instead of at their next poll.

const notifyChannel = "jetway"

// Shared tells whether other servers may use the database (PostgreSQL).
func (s *Store) Shared() bool { return s.db.Dialect == sqldb.Postgres }

// Publish tells the other servers of a shared database about a change;
// on SQLite, where there are none, it does nothing.
func (s *Store) Publish(ctx context.Context, payload string) error {
	if !s.Shared() {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `SELECT pg_notify(?, ?)`, notifyChannel, payload)
	return err
}

// Listen calls fn with every payload published by any server of the
// database (this one included) until ctx ends. It reconnects after a
// lost connection, waiting longer each time (up to 30 s) and saying so in
// log, and calls fn("") once reconnected: whatever was published meanwhile
// is lost, so the caller wakes everyone. On SQLite it returns at once.
func (s *Store) Listen(ctx context.Context, log *slog.Logger, fn func(payload string)) {
	if !s.Shared() {
		return
	}
	wait := time.Second
	for first := true; ; first = false {
		start := time.Now()
		err := s.listenOnce(ctx, fn, !first)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			wait = time.Second // it had been up a while: a new outage
		}
		log.Warn("listening to the other servers; until it is back, their changes reach this server's followers and waiting agents late", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, fn func(string), reconnected bool) error {
	conn, err := pgx.Connect(ctx, s.db.URL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	if reconnected {
		fn("")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("waiting for notifications: %w", err)
		}
		fn(n.Payload)
	}
}
