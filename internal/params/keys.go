package params

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// AccountID is the account that the embedded store's ARNs name.
const AccountID = "000000000000"

// Principal is who signed a request, and what it may read.
type Principal struct {
	AccessKeyID string
	Admin       bool
	// Parameters and Secrets a scoped key may read (by name).
	Parameters map[string]bool
	Secrets    map[string]bool
	Expires    time.Time
	// RunID, when set, is the run whose life bounds the key.
	RunID string
}

// Keys holds the access keys the store accepts: the admin pair and
// short-lived scoped pairs. Keys made by OpenKeys keep the scoped pairs in
// the store's database (their secrets sealed with the master key), so a
// pair issued by one server replica is accepted by every other.
type Keys struct {
	store *Store
	alive func(ctx context.Context, runID string) (bool, error)
	now   func() time.Time

	mu sync.Mutex
	// mem holds the admin pair.
	mem map[string]*accessKey
}

type accessKey struct {
	secret string
	who    Principal
}

// KeysOptions configure OpenKeys.
type KeysOptions struct {
	// DataDir receives credentials and config, the admin pair's files for
	// the AWS CLI.
	DataDir string
	// Alive tells whether a run still lives; a pair issued for a run is
	// refused once it answers false. Every replica must answer alike (ask
	// the shared database). An error (the database failing) answers the
	// request with a 500, which clients retry, not with a refused key,
	// which would fail the run. Nil: pairs live until they expire.
	Alive func(ctx context.Context, runID string) (bool, error)
}

// OpenKeys returns the access keys of store, with its admin pair. On
// PostgreSQL the admin pair is kept (sealed) in the database, made by the
// first replica, adopting that replica's DataDir/credentials if it has one
// (a data dir moved from SQLite keeps its pair), and every replica writes
// it to its DataDir's files. On SQLite DataDir/credentials is the admin
// pair, made on first start, as it always was.
//
// Scoped pairs live in the database on both engines: one implementation,
// tested on both, and on SQLite too a pair outlives a restart of the
// server (until it expires or its run ends).
func OpenKeys(ctx context.Context, store *Store, opts KeysOptions) (*Keys, AdminCredentials, error) {
	k := &Keys{store: store, alive: opts.Alive, now: time.Now, mem: map[string]*accessKey{}}
	if store.db.Dialect != sqldb.Postgres {
		admin, err := k.loadOrCreateAdmin(opts.DataDir)
		return k, admin, err
	}
	id, secret, err := k.sharedAdmin(ctx, opts.DataDir)
	if err != nil {
		return nil, AdminCredentials{}, err
	}
	admin, err := writeAdminFiles(opts.DataDir, id, secret)
	if err != nil {
		return nil, AdminCredentials{}, err
	}
	k.addAdmin(id, secret)
	return k, admin, nil
}

// sharedAdmin reads the admin pair from the database, storing one first if
// it has none.
func (k *Keys) sharedAdmin(ctx context.Context, dataDir string) (id, secret string, err error) {
	id, secret, err = k.storedAdmin(ctx)
	if err != nil || id != "" {
		return id, secret, err
	}
	// Replicas starting together each offer a pair; the unique index on
	// admin keeps the first, and all read that one back.
	id, secret, err = adminFromFile(filepath.Join(dataDir, "credentials"))
	if err != nil { // none, or unreadable: the files are rewritten below
		id, secret = newKeyPair("AKIA")
	}
	if _, err := k.store.db.ExecContext(ctx, `INSERT INTO params_access_keys (id, secret, admin, expires_at) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING`,
		id, k.store.sealer.seal(accessKeyAAD(id), []byte(secret)), true); err != nil {
		return "", "", fmt.Errorf("storing the admin key pair: %w", err)
	}
	id, secret, err = k.storedAdmin(ctx)
	if err == nil && id == "" {
		err = errors.New("the admin key pair vanished from the database as it was stored")
	}
	return id, secret, err
}

func (k *Keys) storedAdmin(ctx context.Context) (id, secret string, err error) {
	var sealed []byte
	err = k.store.db.QueryRowContext(ctx, `SELECT id, secret FROM params_access_keys WHERE admin`).Scan(&id, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the admin key pair: %w", err)
	}
	plain, err := k.store.sealer.open(accessKeyAAD(id), sealed)
	if err != nil {
		return "", "", fmt.Errorf("reading the admin key pair: %w", err)
	}
	return id, string(plain), nil
}

func accessKeyAAD(id string) string { return "access-key:" + id }

func newKeyPair(prefix string) (id, secret string) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id = prefix + strings.ToUpper(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))[:16]
	var sec [30]byte
	_, _ = rand.Read(sec[:])
	return id, base64.StdEncoding.EncodeToString(sec[:])
}

// Scope is what a scoped key pair may read, and for how long.
type Scope struct {
	Parameters, Secrets []string
	TTL                 time.Duration
	// RunID, when set, binds the pair to the run: it is refused once the
	// Keys' Alive says the run has ended.
	RunID string
}

// IssuedKey is a scoped key pair.
type IssuedKey struct {
	AccessKeyID, SecretAccessKey string
	Expires                      time.Time
}

// Issue makes a key pair that may read only the scope's parameters and
// secrets, until its TTL has passed (and while its run lives), and drops
// pairs that have expired.
func (k *Keys) Issue(ctx context.Context, scope Scope) (IssuedKey, error) {
	id, secret := newKeyPair("ASIA")
	now := k.now()
	who := Principal{AccessKeyID: id, Parameters: map[string]bool{}, Secrets: map[string]bool{}, Expires: now.Add(scope.TTL), RunID: scope.RunID}
	for _, p := range scope.Parameters {
		who.Parameters[p] = true
	}
	for _, s := range scope.Secrets {
		who.Secrets[s] = true
	}
	issued := IssuedKey{AccessKeyID: id, SecretAccessKey: secret, Expires: who.Expires}
	db := k.store.db
	if _, err := db.ExecContext(ctx, `DELETE FROM params_access_keys WHERE NOT admin AND expires_at < ?`, now.UnixNano()); err != nil {
		return IssuedKey{}, fmt.Errorf("dropping expired key pairs: %w", err)
	}
	params, _ := json.Marshal(nonNil(scope.Parameters))
	secrets, _ := json.Marshal(nonNil(scope.Secrets))
	if _, err := db.ExecContext(ctx, `INSERT INTO params_access_keys (id, secret, admin, parameters, secrets, run_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id, k.store.sealer.seal(accessKeyAAD(id), []byte(secret)), false, string(params), string(secrets), scope.RunID, who.Expires.UnixNano()); err != nil {
		return IssuedKey{}, fmt.Errorf("storing a key pair: %w", err)
	}
	return issued, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (k *Keys) addAdmin(id, secret string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mem[id] = &accessKey{secret: secret, who: Principal{AccessKeyID: id, Admin: true}}
}

var (
	errUnknownKey = &APIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", Status: http.StatusBadRequest}
	errExpiredKey = &APIError{Code: "ExpiredTokenException", Message: "The security token included in the request is expired.", Status: http.StatusBadRequest}
)

// lookup returns the secret and principal for an access key id. A failing
// database is an error (a 500), never a refused key, which clients would
// take as final.
func (k *Keys) lookup(ctx context.Context, id string) (string, Principal, error) {
	k.mu.Lock()
	key, ok := k.mem[id]
	k.mu.Unlock()
	if ok {
		return key.secret, key.who, nil // the admin pair
	}
	var sealed []byte
	var admin bool
	var params, secrets string
	var expires int64
	who := Principal{AccessKeyID: id}
	err := k.store.db.QueryRowContext(ctx, `SELECT secret, admin, parameters, secrets, run_id, expires_at FROM params_access_keys WHERE id = ?`, id).
		Scan(&sealed, &admin, &params, &secrets, &who.RunID, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && admin) { // the admin pair is in mem
		return "", Principal{}, errUnknownKey
	}
	if err != nil {
		return "", Principal{}, fmt.Errorf("looking up access key %s: %w", id, err)
	}
	who.Expires = time.Unix(0, expires)
	if k.now().After(who.Expires) {
		return "", Principal{}, errExpiredKey
	}
	if who.RunID != "" && k.alive != nil {
		alive, err := k.alive(ctx, who.RunID)
		if err != nil {
			return "", Principal{}, fmt.Errorf("access key %s: is run %s alive: %w", id, who.RunID, err)
		}
		if !alive {
			return "", Principal{}, errExpiredKey
		}
	}
	plain, err := k.store.sealer.open(accessKeyAAD(id), sealed)
	if err != nil {
		return "", Principal{}, err
	}
	var names []string
	if err := json.Unmarshal([]byte(params), &names); err != nil {
		return "", Principal{}, fmt.Errorf("access key %s: %w", id, err)
	}
	who.Parameters = set(names)
	names = nil
	if err := json.Unmarshal([]byte(secrets), &names); err != nil {
		return "", Principal{}, fmt.Errorf("access key %s: %w", id, err)
	}
	who.Secrets = set(names)
	return string(plain), who, nil
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// AdminCredentials are the store's admin key pair and where they are kept.
type AdminCredentials struct {
	AccessKeyID, SecretAccessKey string
	CredentialsFile, ConfigFile  string
}

// loadOrCreateAdmin reads the admin key pair from dataDir/credentials
// (profile jetway), creating it with dataDir/config on first start, both
// 0600, so that the AWS CLI works against the store with
// AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE pointing at them.
//
// OpenKeys calls it on SQLite; on PostgreSQL the admin pair is the
// database's. The server calls it directly only until it uses OpenKeys.
func (k *Keys) loadOrCreateAdmin(dataDir string) (AdminCredentials, error) {
	c := AdminCredentials{CredentialsFile: filepath.Join(dataDir, "credentials"), ConfigFile: filepath.Join(dataDir, "config")}
	var err error
	c.AccessKeyID, c.SecretAccessKey, err = adminFromFile(c.CredentialsFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.AccessKeyID, c.SecretAccessKey = newKeyPair("AKIA")
		if err := writeNew(c.CredentialsFile, credentialsFile(c.AccessKeyID, c.SecretAccessKey)); err != nil {
			return c, err
		}
	case err != nil:
		return c, err
	}
	if err := writeConfig(c.ConfigFile); err != nil {
		return c, err
	}
	k.addAdmin(c.AccessKeyID, c.SecretAccessKey)
	return c, nil
}

// adminFromFile reads the admin pair from a credentials file.
func adminFromFile(path string) (id, secret string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	id, secret = iniValue(string(data), "jetway", "aws_access_key_id"), iniValue(string(data), "jetway", "aws_secret_access_key")
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("%s has no [jetway] profile with aws_access_key_id and aws_secret_access_key; remove the file to have a new key pair made", path)
	}
	return id, secret, nil
}

func credentialsFile(id, secret string) string {
	return fmt.Sprintf("[jetway]\naws_access_key_id = %s\naws_secret_access_key = %s\n", id, secret)
}

func writeConfig(path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return writeNew(path, "[profile jetway]\nregion = us-east-1\noutput = json\n")
	}
	return nil
}

// writeAdminFiles writes the database's admin pair into dataDir's
// credentials file (replacing one that holds another pair) and config.
func writeAdminFiles(dataDir, id, secret string) (AdminCredentials, error) {
	c := AdminCredentials{AccessKeyID: id, SecretAccessKey: secret, CredentialsFile: filepath.Join(dataDir, "credentials"), ConfigFile: filepath.Join(dataDir, "config")}
	if fid, fsecret, err := adminFromFile(c.CredentialsFile); err != nil || fid != id || fsecret != secret {
		tmp := c.CredentialsFile + ".new"
		_ = os.Remove(tmp)
		if err := writeNew(tmp, credentialsFile(id, secret)); err != nil {
			return c, fmt.Errorf("writing the admin key pair: %w", err)
		}
		if err := os.Rename(tmp, c.CredentialsFile); err != nil {
			return c, fmt.Errorf("writing the admin key pair: %w", err)
		}
	}
	return c, writeConfig(c.ConfigFile)
}

func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// iniValue reads key from [section] of a small ini file.
func iniValue(ini, section, key string) string {
	in := false
	for _, line := range strings.Split(ini, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			in = strings.Trim(line, "[] ") == section
			continue
		}
		if k, v, ok := strings.Cut(line, "="); in && ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
