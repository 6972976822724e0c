// Package sqldb opens jetway's databases, SQLite (embedded, the default)
// or PostgreSQL (several servers on one database), behind database/sql,
// and applies their versioned schema migrations.
//
// Stores write their SQL once, with ? placeholders and the SQL both
// engines share; DB rewrites the placeholders for PostgreSQL. That is why
// the PostgreSQL side goes through pgx's database/sql driver rather than
// pgx's own interface: one implementation of each store serves both
// engines, and the conformance tests hold them to the same behaviour.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"modernc.org/sqlite"               // database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the engine behind a DB.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "PostgreSQL"
	}
	return "SQLite"
}

// DB is a database of either engine.
type DB struct {
	*sql.DB
	Dialect Dialect
	// URL is where the database is: a file path for SQLite, a postgres://
	// URL (credentials included) for PostgreSQL.
	URL string
	// OnError, when set, is told of each statement the database failed
	// (see Failure); set it before the DB is used concurrently. It sees
	// the errors of ExecContext, QueryContext, QueryRowContext, BeginTx
	// and Commit, not those of iterating rows or scanning.
	OnError func(error)
}

// Failure tells whether err is the database failing, rather than an
// answer the store's logic expects: a missing row, a unique constraint's
// refusal (the store's ErrExists), a transaction already ended, or a
// context the caller ended.
func Failure(err error) bool {
	return err != nil && !errors.Is(err, sql.ErrNoRows) && !errors.Is(err, sql.ErrTxDone) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !IsUniqueViolation(err)
}

// check tells OnError of err if it is a Failure, and returns it.
func (db *DB) check(err error) error {
	if db.OnError != nil && Failure(err) {
		db.OnError(err)
	}
	return err
}

// IsPostgresURL tells whether s names a PostgreSQL database.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenSQLite opens (creating) the SQLite database at path, in WAL mode,
// with one connection: SQLite has one writer, and a second connection
// would answer "database is locked" instead of waiting its turn.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &DB{DB: db, Dialect: SQLite, URL: path}, nil
}

// OpenPostgres connects to the PostgreSQL database at url.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("the database URL: %w", err)
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL (%s): %w", Redact(url), err)
	}
	return &DB{DB: db, Dialect: Postgres, URL: url}, nil
}

// Redact hides a URL's password, in its user part or its query, for
// messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Rebind turns ? placeholders into PostgreSQL's $1, $2…; for SQLite it
// returns q unchanged. A ? inside a quoted string stays.
func (db *DB) Rebind(q string) string {
	if db.Dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	quoted := false
	for _, r := range q {
		switch {
		case r == '\'':
			quoted = !quoted
		case r == '?' && !quoted:
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ExecContext runs a statement written with ? placeholders.
func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := db.DB.ExecContext(ctx, db.Rebind(q), args...)
	return res, db.check(err)
}

// QueryContext runs a query written with ? placeholders.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := db.DB.QueryContext(ctx, db.Rebind(q), args...)
	return rows, db.check(err)
}

// QueryRowContext runs a one-row query written with ? placeholders.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	row := db.DB.QueryRowContext(ctx, db.Rebind(q), args...)
	_ = db.check(row.Err())
	return row
}

// Tx is a transaction whose statements are written with ? placeholders.
type Tx struct {
	*sql.Tx
	db *DB
}

// BeginTx starts a transaction.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := db.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, db.check(err)
	}
	return &Tx{Tx: tx, db: db}, nil
}

// Dialect is the engine of the transaction's database.
func (tx *Tx) Dialect() Dialect { return tx.db.Dialect }

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := tx.Tx.ExecContext(ctx, tx.db.Rebind(q), args...)
	return res, tx.db.check(err)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := tx.Tx.QueryContext(ctx, tx.db.Rebind(q), args...)
	return rows, tx.db.check(err)
}

// QueryRowContext runs a one-row query in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	row := tx.Tx.QueryRowContext(ctx, tx.db.Rebind(q), args...)
	_ = tx.db.check(row.Err())
	return row
}

// Commit commits the transaction.
func (tx *Tx) Commit() error { return tx.db.check(tx.Tx.Commit()) }

// IsUniqueViolation tells whether err is a unique constraint's refusal.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
