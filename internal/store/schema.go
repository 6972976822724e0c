package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// migrations are the run store's schema, step by step; the list only
// grows. Each step names what it adds.
var migrations = []sqldb.Migration{
	{Name: "runs, logs, agents, bundles", Up: baseSchema},
	{Name: "per-run log counter, runs_on, one active run per project, sessions, settings, blobs", Up: both(v2)},
	{Name: "reruns, variables given for a run, artifacts", Up: both(v3)},
	{Name: "projects' operator settings, the Docker policy a run was given", Up: both(v4)},
	{Name: "Docker hosts the server knows and their state, the host a run was given and built on", Up: both(v5)},
	{Name: "the artifact chunks each run uploaded", Up: both(v6)},
	{Name: "sessions without their CSRF tokens (derived from the session ID)", Up: both(v7)},
	{Name: "API tokens per person or machine, the audit log, the rights a run was started with", Up: sqldb.Statements(v8, v8Postgres)},
	{Name: "the OIDC issuer's signing keys, sealed", Up: both(v9)},
	{Name: "Docker hosts open to some projects only", Up: both(v10)},
}

// both runs one text on either engine: it is written with BLOB, which is
// PostgreSQL's BYTEA, and BIGINT, an integer column to both (SQLite gives
// any type name with INT in it integer affinity).
func both(q string) func(context.Context, *sqldb.Tx) error {
	return sqldb.Statements(q, strings.ReplaceAll(q, "BLOB", "BYTEA"))
}

// baseSchema is the schema of jetway before versioned migrations. On
// SQLite it adopts a jetway.db of any earlier release: CREATE … IF NOT
// EXISTS leaves an existing table alone, and addColumns adds what came
// later to it.
func baseSchema(ctx context.Context, tx *sqldb.Tx) error {
	if tx.Dialect() == sqldb.Postgres {
		_, err := tx.Tx.ExecContext(ctx, basePostgres)
		return err
	}
	if _, err := tx.Tx.ExecContext(ctx, baseSQLite); err != nil {
		return err
	}
	if err := addColumns(ctx, tx); err != nil {
		return err
	}
	_, err := tx.Tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS runs_token ON runs(token_hash)`)
	return err
}

// added lists the columns that came after a table's first release, before
// migrations were versioned.
var added = []struct{ table, column, decl string }{
	{"runs", "events_acked", "INTEGER NOT NULL DEFAULT 0"},
	{"runs", "agent", "TEXT NOT NULL DEFAULT ''"},
	{"runs", "token_hash", "TEXT NOT NULL DEFAULT ''"},
	{"runs", "attempts", "INTEGER NOT NULL DEFAULT 0"},
	{"runs", "cancel_requested", "INTEGER NOT NULL DEFAULT 0"},
	{"agents", "allowed", "TEXT NOT NULL DEFAULT '{}'"},
	{"agents", "max_concurrency", "INTEGER NOT NULL DEFAULT 0"},
}

func addColumns(ctx context.Context, tx *sqldb.Tx) error {
	for _, c := range added {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+c.table+` ADD COLUMN `+c.column+` `+c.decl); err != nil {
			return fmt.Errorf("adding %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

const baseSQLite = `
CREATE TABLE IF NOT EXISTS runs (
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
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, seq);
CREATE INDEX IF NOT EXISTS runs_project ON runs(project, seq);
CREATE TABLE IF NOT EXISTS log_chunks (
	run_id TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	data   TEXT NOT NULL,
	PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS agents (
	name       TEXT PRIMARY KEY,
	token_hash TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0,
	info       TEXT NOT NULL DEFAULT '{}',
	address    TEXT NOT NULL DEFAULT '',
	last_seen  INTEGER
);
CREATE TABLE IF NOT EXISTS bundles (
	id         TEXT PRIMARY KEY,
	manifest   TEXT NOT NULL,
	created_at INTEGER NOT NULL
);`

const basePostgres = `
CREATE TABLE runs (
	seq              BIGSERIAL PRIMARY KEY,
	id               TEXT NOT NULL UNIQUE,
	project          TEXT NOT NULL,
	status           TEXT NOT NULL,
	reason           TEXT NOT NULL DEFAULT '',
	env              TEXT NOT NULL DEFAULT '',
	started_by       TEXT NOT NULL DEFAULT '',
	git              TEXT NOT NULL DEFAULT '{}',
	bundle           TEXT NOT NULL,
	project_file     TEXT NOT NULL,
	pass             TEXT NOT NULL DEFAULT '{}',
	created_at       BIGINT NOT NULL,
	started_at       BIGINT,
	finished_at      BIGINT,
	summary          TEXT,
	events_acked     BIGINT NOT NULL DEFAULT 0,
	agent            TEXT NOT NULL DEFAULT '',
	token_hash       TEXT NOT NULL DEFAULT '',
	attempts         INTEGER NOT NULL DEFAULT 0,
	cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_status ON runs(status, seq);
CREATE INDEX runs_project ON runs(project, seq);
CREATE INDEX runs_token ON runs(token_hash);
CREATE TABLE log_chunks (
	run_id TEXT NOT NULL,
	seq    BIGINT NOT NULL,
	data   TEXT NOT NULL,
	PRIMARY KEY (run_id, seq)
);
CREATE TABLE agents (
	name            TEXT PRIMARY KEY,
	token_hash      TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	revoked         INTEGER NOT NULL DEFAULT 0,
	info            TEXT NOT NULL DEFAULT '{}',
	address         TEXT NOT NULL DEFAULT '',
	last_seen       BIGINT,
	allowed         TEXT NOT NULL DEFAULT '{}',
	max_concurrency INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE bundles (
	id         TEXT PRIMARY KEY,
	manifest   TEXT NOT NULL,
	created_at BIGINT NOT NULL
);`

// v2: log chunks are numbered from a counter on their run, which the
// append takes a row lock on, so concurrent appends of one run from two
// servers queue instead of both taking MAX(seq)+1. runs_on is stored at
// submission so routing needs no YAML parse (NULL: a run from before,
// whose project file is parsed). The partial unique index makes "one
// active run per project" the database's rule, whichever server leases.
// An older database could hold two active runs of a project only after a
// crash; all but the newest are failed first.
const v2 = `
ALTER TABLE runs ADD COLUMN log_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN runs_on TEXT;
UPDATE runs SET log_seq = (SELECT COALESCE(MAX(seq), 0) FROM log_chunks WHERE run_id = runs.id);
UPDATE runs SET status = 'failed', reason = 'failed while upgrading: another run of the project was active'
	WHERE status IN ('provisioning', 'running')
	AND seq NOT IN (SELECT MAX(seq) FROM runs WHERE status IN ('provisioning', 'running') GROUP BY project);
CREATE UNIQUE INDEX runs_one_active_per_project ON runs(project) WHERE status IN ('provisioning', 'running');
CREATE TABLE sessions (
	id_hash TEXT PRIMARY KEY,
	csrf    TEXT NOT NULL,
	token   TEXT NOT NULL,
	expires BIGINT NOT NULL
);
CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE blobs (
	hash       TEXT PRIMARY KEY,
	size       BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE TABLE blob_chunks (
	hash TEXT NOT NULL,
	n    INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (hash, n)
);`

// v3: a run records the run it reruns and the variables given for it
// (JSON, values as given: references or plain values), and the files it
// kept, each the concatenation of its chunks (JSON list of blob hashes).
const v3 = `
ALTER TABLE runs ADD COLUMN rerun_of TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN vars TEXT NOT NULL DEFAULT '{}';
CREATE TABLE artifacts (
	run_id     TEXT NOT NULL,
	name       TEXT NOT NULL,
	size       BIGINT NOT NULL,
	sha256     TEXT NOT NULL,
	chunks     TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (run_id, name)
);`

// v4: an operator's settings of a project (jetway projects): the Docker
// host allowances (JSON list, in api.DockerAllowances' order) and whether
// phases hold the Docker host's credentials. A project without a row has
// the strict default. A run records the policy its runner was handed with
// its spec (JSON api.DockerPolicy); NULL until a runner fetched it.
const v4 = `
CREATE TABLE projects (
	name                      TEXT PRIMARY KEY,
	docker_allow              TEXT NOT NULL DEFAULT '[]',
	docker_expose_credentials INTEGER NOT NULL DEFAULT 0,
	updated_at                BIGINT NOT NULL
);
ALTER TABLE runs ADD COLUMN docker TEXT;`

// v5: the Docker hosts the server knows (jetway hosts), each with its
// operator's settings and, in the same row, what the last health check
// found (NULL checked_at: never checked) and the last GC it had (JSON
// api.GCReport). Credentials are references (SSM:/…, SECRET:…), never
// values. The GC policy is JSON api.GCPolicy. A run records the host
// the server chose for it (JSON api.AssignedHost, NULL outside a pool),
// with the pool and Dockerfile of its affinity key (so the home of every
// project that ran in a pool can be ranked again), and the host it
// really built on, from its summary.
const v5 = `
CREATE TABLE docker_hosts (
	name              TEXT PRIMARY KEY,
	url               TEXT NOT NULL,
	pool              TEXT NOT NULL,
	ssh_key           TEXT NOT NULL DEFAULT '',
	known_hosts       TEXT NOT NULL DEFAULT '',
	tls_ca            TEXT NOT NULL DEFAULT '',
	tls_cert          TEXT NOT NULL DEFAULT '',
	tls_key           TEXT NOT NULL DEFAULT '',
	max_builds        INTEGER NOT NULL DEFAULT 0,
	gc                TEXT NOT NULL DEFAULT '{}',
	draining          INTEGER NOT NULL DEFAULT 0,
	created_at        BIGINT NOT NULL,
	up                INTEGER NOT NULL DEFAULT 0,
	since             BIGINT,
	checked_at        BIGINT,
	error             TEXT NOT NULL DEFAULT '',
	free_bytes        BIGINT NOT NULL DEFAULT 0,
	disk_bytes        BIGINT NOT NULL DEFAULT 0,
	images_bytes      BIGINT NOT NULL DEFAULT 0,
	build_cache_bytes BIGINT NOT NULL DEFAULT 0,
	last_gc           TEXT,
	last_gc_at        BIGINT
);
CREATE INDEX docker_hosts_pool ON docker_hosts(pool, name);
ALTER TABLE runs ADD COLUMN docker_host TEXT;
ALTER TABLE runs ADD COLUMN docker_pool TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN dockerfile TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN docker_host_name TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_docker_pool ON runs(docker_pool);`

// v6: the artifact chunks each run uploaded (blobs of the blob store),
// with the size each was reserved at: they bound a run token's uploads,
// an artifact is made only of its own run's, and those it never recorded
// are removed when the run ends (then its rows go too). Chunks uploaded
// before are not recorded: retention removes those no artifact names.
const v6 = `
CREATE TABLE run_chunks (
	run_id     TEXT NOT NULL,
	hash       TEXT NOT NULL,
	size       BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (run_id, hash)
);
CREATE INDEX run_chunks_hash ON run_chunks(hash);`

// v7: a dashboard session's CSRF token is derived from its ID (an HMAC
// with a key of the API token's), so the database keeps none. Sessions
// stay signed in; a page opened before the upgrade carries the old token,
// and its next form is refused with "reload the page".
const v7 = `ALTER TABLE sessions DROP COLUMN csrf;`

// v8: API tokens per person or machine (jetway tokens), by a SHA-256 of
// the token, each with its role and scopes (JSON lists of globs; empty:
// all), NULL expires_at for a token that never expires, and revoked_at
// once revoked (kept, so a revoked token's use is refused by name); the audit log,
// appended to only; and, with each run, the name of the token that started
// it and the references it may resolve (JSON list of globs; NULL: all, an
// admin's run).
const v8 = `
CREATE TABLE api_tokens (
	name         TEXT PRIMARY KEY,
	hash         TEXT NOT NULL UNIQUE,
	role         TEXT NOT NULL,
	projects     TEXT NOT NULL DEFAULT '[]',
	params       TEXT NOT NULL DEFAULT '[]',
	created_by   TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT,
	expires_at   BIGINT,
	revoked_at   BIGINT
);
CREATE TABLE audit (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	at      BIGINT NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	target  TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL
);
CREATE INDEX audit_at ON audit(at);
ALTER TABLE runs ADD COLUMN token_name TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN grants TEXT;`

var v8Postgres = strings.Replace(v8, "seq     INTEGER PRIMARY KEY AUTOINCREMENT", "seq     BIGSERIAL PRIMARY KEY", 1)

// v10: the projects whose runs may build on a Docker host (JSON list of
// globs; empty: all), so that a pool given to one team is not any
// project's to choose.
const v10 = `ALTER TABLE docker_hosts ADD COLUMN projects TEXT NOT NULL DEFAULT '[]';`
