package params

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Two server replicas on one PostgreSQL database, each with a data dir of
// its own and a copy of one master key, are one parameter store.
func TestReplicasShareOneStore(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	runs := newRunSet() // the runs table both replicas read
	a := newReplica(t, openPostgres(t, url), "", runs)
	b := newReplica(t, openPostgres(t, url), filepath.Join(a.DataDir, "master.key"), runs)

	t.Run("one admin pair, in each data dir", func(t *testing.T) {
		if a.Admin.AccessKeyID != b.Admin.AccessKeyID || a.Admin.SecretAccessKey != b.Admin.SecretAccessKey {
			t.Fatalf("admin pairs differ: %s and %s", a.Admin.AccessKeyID, b.Admin.AccessKeyID)
		}
		id, secret, err := adminFromFile(filepath.Join(b.DataDir, "credentials"))
		if err != nil || id != a.Admin.AccessKeyID || secret != a.Admin.SecretAccessKey {
			t.Fatalf("b's credentials file: %s, %v", id, err)
		}
	})

	t.Run("a value put through one is read through the other", func(t *testing.T) {
		put(t, a.adminSSM(), "/dev/DB_PASSWORD", "SecureString", "pw-from-a", false)
		got, err := b.adminSSM().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/DB_PASSWORD"), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(got.Parameter.Value) != "pw-from-a" {
			t.Fatalf("read through b: %v", err)
		}
		if _, err := b.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String("from-b")}); err != nil {
			t.Fatal(err)
		}
		sec, err := a.adminSM().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
		if err != nil || aws.ToString(sec.SecretString) != "from-b" {
			t.Fatalf("secret through a: %v", err)
		}
	})

	t.Run("a scoped pair issued by one is accepted by the other until its run ends", func(t *testing.T) {
		put(t, a.adminSSM(), "/dev/OTHER", "String", "other", false)
		runs.start("run-7")
		key := a.issue(t, Scope{Parameters: []string{"/dev/DB_PASSWORD"}, Secrets: []string{"prod/db"}, TTL: time.Minute, RunID: "run-7"})
		c := b.ssmClient(key.AccessKeyID, key.SecretAccessKey)
		got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/DB_PASSWORD"), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(got.Parameter.Value) != "pw-from-a" {
			t.Fatalf("the scoped pair on b: %v", err)
		}
		if _, err := b.smClient(key.AccessKeyID, key.SecretAccessKey).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")}); err != nil {
			t.Fatalf("the scoped pair's secret on b: %v", err)
		}
		if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/OTHER")}); errorCode(err) != "AccessDeniedException" {
			t.Fatalf("outside its scope on b: %v", err)
		}
		runs.end("run-7")
		for name, s := range map[string]*testServer{"a": a, "b": b} {
			_, err := s.ssmClient(key.AccessKeyID, key.SecretAccessKey).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/DB_PASSWORD")})
			if errorCode(err) != "ExpiredTokenException" {
				t.Errorf("on %s after the run ended: %v", name, err)
			}
		}
	})

	t.Run("expired pairs are dropped as new ones are issued", func(t *testing.T) {
		old := a.issue(t, Scope{Parameters: []string{"/dev/OTHER"}, TTL: time.Minute})
		later := time.Now().Add(2 * time.Minute)
		b.Keys.now = func() time.Time { return later }
		b.issue(t, Scope{Parameters: []string{"/dev/OTHER"}, TTL: time.Hour})
		var n int
		if err := a.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM params_access_keys WHERE id = ?`, old.AccessKeyID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the expired pair is still stored (%d, %v)", n, err)
		}
	})

	t.Run("puts through both at once make one version each", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				_, err := s.Store.PutParameter(ctx, PutInput{Name: "/dev/RACE", Type: TypeString, Value: fmt.Sprint(i), Overwrite: true})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		history, _, err := a.Store.GetParameterHistory(ctx, "/dev/RACE", false, 50, "")
		if err != nil || len(history) != 20 {
			t.Fatalf("%d versions, %v", len(history), err)
		}
		var values []string
		for i, p := range history {
			if p.Version != int64(i+1) {
				t.Fatalf("version %d at %d", p.Version, i)
			}
			values = append(values, p.Value)
		}
		sort.Strings(values)
		for i := 1; i < len(values); i++ {
			if values[i] == values[i-1] {
				t.Fatalf("value %s stored twice: %v", values[i], values)
			}
		}
	})
}

// A server whose master key is not the one the store's values are sealed
// with is refused before it seals anything.
func TestWrongMasterKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("postgres", func(t *testing.T) {
		url := pg.DB(t)
		first := newReplica(t, openPostgres(t, url), "", newRunSet())
		put(t, first.adminSSM(), "/dev/S", "SecureString", "v", false)

		dir := t.TempDir()
		other := filepath.Join(dir, "other.key")
		if _, err := createKey(other); err != nil {
			t.Fatal(err)
		}
		_, err := NewStore(ctx, openPostgres(t, url), other)
		if !errors.Is(err, ErrWrongMasterKey) || !strings.Contains(err.Error(), "--master-key-file") {
			t.Fatalf("another key: %v", err)
		}
		missing := filepath.Join(dir, "master.key")
		_, err = NewStore(ctx, openPostgres(t, url), missing)
		if !errors.Is(err, ErrWrongMasterKey) {
			t.Fatalf("no key file: %v", err)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a replica without the key made one: %v", err)
		}
	})
	t.Run("postgres, replicas starting together with different keys", func(t *testing.T) {
		url := pg.DB(t)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			db := openPostgres(t, url)
			keyFile := filepath.Join(t.TempDir(), "master.key")
			wg.Go(func() { _, errs[i] = NewStore(ctx, db, keyFile) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("want exactly one refused: %v, %v", errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrWrongMasterKey) {
				t.Fatal(err)
			}
		}
	})
	t.Run("sqlite, master.key replaced", func(t *testing.T) {
		dir := t.TempDir()
		store, err := OpenStore(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		store.Close()
		if err := os.Remove(filepath.Join(dir, "master.key")); err != nil {
			t.Fatal(err)
		}
		if _, err := createKey(filepath.Join(dir, "master.key")); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenStore(ctx, dir); !errors.Is(err, ErrWrongMasterKey) {
			t.Fatalf("OpenStore with a replaced key: %v", err)
		}
	})
}

// schemaV0 is params.db as jetway made it before schema versions.
const schemaV0 = `
CREATE TABLE IF NOT EXISTS param_versions (name TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, value BLOB NOT NULL, description TEXT NOT NULL DEFAULT '', modified_at INTEGER NOT NULL, modified_by TEXT NOT NULL DEFAULT '', PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, arn TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, changed_at INTEGER NOT NULL, deleted_at INTEGER, current TEXT NOT NULL, previous TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS secret_versions (name TEXT NOT NULL REFERENCES secrets(name) ON DELETE CASCADE, version_id TEXT NOT NULL, value BLOB NOT NULL, is_binary INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (name, version_id));`

// A params.db from before schema versions is adopted as it is, and its
// values tell whether the master key fits.
func TestUnversionedParamsDBIsAdopted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sealer, err := createKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(dir, "params.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, schemaV0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name, typ string
		value     []byte
	}{{"/dev/PLAIN", TypeString, []byte("plain")}, {"/dev/SECURE", TypeSecureString, sealer.seal("/dev/SECURE", []byte("secure"))}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO param_versions (name, version, type, value, modified_at) VALUES (?, 1, ?, ?, 1)`, p.name, p.typ, p.value); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	// The wrong key first: nothing recorded, the sealed value refuses it.
	wrongDir := t.TempDir()
	if _, err := createKey(filepath.Join(wrongDir, "master.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSQLiteStore(ctx, filepath.Join(dir, "params.db"), filepath.Join(wrongDir, "master.key")); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("the wrong key on an unversioned params.db: %v", err)
	}
	store, err := OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for name, want := range map[string]string{"/dev/PLAIN": "plain", "/dev/SECURE": "secure"} {
		if p, err := store.GetParameter(ctx, name, true); err != nil || p.Value != want {
			t.Errorf("%s = %q, %v", name, p.Value, err)
		}
	}
	if v, err := store.db.Version(ctx, "params"); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v", v, err)
	}
}

// A database a newer jetway has migrated is refused.
func TestNewerSchemaIsRefused(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := newTestServer(t, engine)
			if _, err := s.DB.ExecContext(ctx, `UPDATE schema_versions SET version = ? WHERE component = 'params'`, len(migrations)+1); err != nil {
				t.Fatal(err)
			}
			_, err := NewStore(ctx, s.DB, filepath.Join(s.DataDir, "master.key"))
			var tooNew *sqldb.SchemaTooNewError
			if !errors.As(err, &tooNew) || tooNew.Component != "params" {
				t.Fatalf("NewStore on a newer schema: %v", err)
			}
		})
	}
}

// On PostgreSQL the admin pair is the database's: the first replica's
// credentials file (a data dir moved from SQLite) becomes it, and the
// others' files are rewritten to it.
func TestAdminPairOnPostgres(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	var before []AdminCredentials
	for _, dir := range dirs {
		c, err := (&Keys{mem: map[string]*accessKey{}, now: time.Now}).loadOrCreateAdmin(dir)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, c)
	}
	keyFile := filepath.Join(t.TempDir(), "master.key")
	for i, dir := range dirs {
		store, err := NewStore(ctx, openPostgres(t, url), keyFile)
		if err != nil {
			t.Fatal(err)
		}
		_, admin, err := OpenKeys(ctx, store, KeysOptions{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if admin.AccessKeyID != before[0].AccessKeyID || admin.SecretAccessKey != before[0].SecretAccessKey {
			t.Fatalf("replica %d: admin pair %s, want the first data dir's %s", i, admin.AccessKeyID, before[0].AccessKeyID)
		}
		id, secret, err := adminFromFile(admin.CredentialsFile)
		if err != nil || id != admin.AccessKeyID || secret != admin.SecretAccessKey {
			t.Fatalf("replica %d's credentials file holds %s, %v", i, id, err)
		}
		if info, err := os.Stat(admin.CredentialsFile); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("replica %d's credentials file: %v %v", i, info.Mode(), err)
		}
	}
}
