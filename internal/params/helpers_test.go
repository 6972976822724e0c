package params

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jetway-dev/jetway/internal/pgtest"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

var pg pgtest.Shared

func TestMain(m *testing.M) { code := m.Run(); pg.Close(); os.Exit(code) }

// engines are the databases the store runs on.
var engines = []string{"sqlite", "postgres"}

// onEachEngine runs test against a store on each engine.
func onEachEngine(t *testing.T, test func(t *testing.T, s *testServer)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { test(t, newTestServer(t, engine)) })
	}
}

type testServer struct {
	URL     string
	DataDir string
	DB      *sqldb.DB
	Store   *Store
	Keys    *Keys
	Admin   AdminCredentials
	API     *API
	Runs    *runSet
}

// runSet stands for the runs table the server's Alive func reads: every
// replica of a test shares one.
type runSet struct {
	mu   sync.Mutex
	live map[string]bool
	err  error
}

func newRunSet() *runSet { return &runSet{live: map[string]bool{}} }

func (r *runSet) start(id string) { r.mu.Lock(); r.live[id] = true; r.mu.Unlock() }
func (r *runSet) end(id string)   { r.mu.Lock(); delete(r.live, id); r.mu.Unlock() }
func (r *runSet) fail(err error)  { r.mu.Lock(); r.err = err; r.mu.Unlock() }
func (r *runSet) alive(_ context.Context, id string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live[id], r.err
}

// newTestServer serves the embedded store on a loopback port, on a new
// database of engine ("sqlite": params.db in the data dir).
func newTestServer(t *testing.T, engine string) *testServer {
	t.Helper()
	if engine == "sqlite" {
		dir := t.TempDir()
		store, err := OpenStore(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		return serveStore(t, store, dir, newRunSet())
	}
	return newReplica(t, openPostgres(t, pg.DB(t)), "", newRunSet())
}

func openPostgres(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newReplica serves a store on db, as one server replica with a data dir
// of its own, whose master key is a copy of keyFile (a new key if "").
func newReplica(t *testing.T, db *sqldb.DB, keyFile string, runs *runSet) *testServer {
	t.Helper()
	dir := t.TempDir()
	if keyFile != "" {
		copyFile(t, keyFile, filepath.Join(dir, "master.key"))
	}
	store, err := NewStore(context.Background(), db, filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return serveStore(t, store, dir, runs)
}

func serveStore(t *testing.T, store *Store, dir string, runs *runSet) *testServer {
	t.Helper()
	keys, admin, err := OpenKeys(context.Background(), store, KeysOptions{DataDir: dir, Alive: runs.alive})
	if err != nil {
		t.Fatal(err)
	}
	api := &API{Store: store, Keys: keys}
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		store.Close()
	})
	return &testServer{URL: srv.URL, DataDir: dir, DB: store.db, Store: store, Keys: keys, Admin: admin, API: api, Runs: runs}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *testServer) config(id, secret string) aws.Config {
	return aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	}
}

func (s *testServer) ssmClient(id, secret string) *ssm.Client {
	return ssm.NewFromConfig(s.config(id, secret), func(o *ssm.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func (s *testServer) smClient(id, secret string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.config(id, secret), func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func (s *testServer) adminSSM() *ssm.Client {
	return s.ssmClient(s.Admin.AccessKeyID, s.Admin.SecretAccessKey)
}

func (s *testServer) adminSM() *secretsmanager.Client {
	return s.smClient(s.Admin.AccessKeyID, s.Admin.SecretAccessKey)
}

// issue makes a scoped key pair.
func (s *testServer) issue(t *testing.T, scope Scope) IssuedKey {
	t.Helper()
	key, err := s.Keys.Issue(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
