package params

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Parameter types, as SSM names them.
const (
	TypeString       = "String"
	TypeStringList   = "StringList"
	TypeSecureString = "SecureString"
)

// Tiers, and the value sizes they hold.
const (
	TierStandard     = "Standard"
	TierAdvanced     = "Advanced"
	TierIntelligent  = "Intelligent-Tiering"
	maxStandardValue = 4096
	maxAdvancedValue = 8192
	// maxVersions is how many versions SSM keeps of a parameter.
	maxVersions = 100
)

// APIError is an error with an AWS error code, answered as AWS answers it.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Parameter is one version of a parameter. Value is the plaintext, or for
// a SecureString read without decryption the base64 ciphertext.
type Parameter struct {
	Name           string
	Type           string
	Value          string
	Version        int64
	Modified       time.Time
	ModifiedBy     string
	Description    string
	Tier           string
	DataType       string
	AllowedPattern string
	// Labels are the version's labels (GetParameterHistory, selectors).
	Labels []string
	// Tags are the parameter's (DescribeParameters fills them).
	Tags []Tag
	// Selector is ":version" or ":label" when the request chose a version.
	Selector string
	// ARN is set for a secret read as /aws/reference/secretsmanager/…;
	// SourceResult is then its DescribeSecret answer.
	ARN, SourceResult string
}

// Store keeps parameters and secrets in SQLite or PostgreSQL, secure
// values sealed with the master key. It is safe for concurrent use, and
// several Stores (server replicas) may share one PostgreSQL database when
// they are given the same master key.
type Store struct {
	db     *sqldb.DB
	ownsDB bool
	sealer *sealer
	now    func() time.Time
}

// OpenStore opens (creating if needed) the SQLite store in dataDir:
// params.db and master.key.
func OpenStore(ctx context.Context, dataDir string) (*Store, error) {
	return OpenSQLiteStore(ctx, filepath.Join(dataDir, "params.db"), filepath.Join(dataDir, "master.key"))
}

// OpenSQLiteStore opens (creating if needed) the SQLite store at dbFile,
// with the master key at masterKeyFile (created if neither exists yet).
// Close closes the database.
func OpenSQLiteStore(ctx context.Context, dbFile, masterKeyFile string) (*Store, error) {
	db, err := sqldb.OpenSQLite(ctx, dbFile)
	if err != nil {
		return nil, fmt.Errorf("opening the parameter database: %w", err)
	}
	s, err := NewStore(ctx, db, masterKeyFile)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.ownsDB = true
	return s, nil
}

// NewStore keeps the store in db, an open database of either engine
// (for PostgreSQL, the one the server's other stores use: the tables are
// param_versions, secrets, secret_versions and params_*), bringing its
// schema up to date. The master key at masterKeyFile must be the one the
// database's values are sealed with (ErrWrongMasterKey otherwise); it is
// created only for a database that holds none. Close leaves db open.
func NewStore(ctx context.Context, db *sqldb.DB, masterKeyFile string) (*Store, error) {
	if err := db.Migrate(ctx, "params", migrations); err != nil {
		return nil, fmt.Errorf("preparing the parameter store: %w", err)
	}
	sealer, err := loadMasterKey(ctx, db, masterKeyFile)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, sealer: sealer, now: time.Now}, nil
}

// Close closes the database if the store opened it.
func (s *Store) Close() error {
	if s.ownsDB {
		return s.db.Close()
	}
	return nil
}

// inTx runs fn in a transaction. When another replica inserted the same
// row first (a unique violation), fn runs again and sees that row: two
// CreateSecret calls at once make one secret and a ResourceExists, not an
// internal error.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqldb.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if attempt < 5 && sqldb.IsUniqueViolation(err) {
			continue
		}
		return err
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sqldb.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// pageToken is an opaque offset into a sorted listing.
func pageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func parsePageToken(token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil && len(raw) > 1 && raw[0] == 'o' {
		if n, err := strconv.Atoi(string(raw[1:])); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, apiErr("InvalidNextToken", "The specified token is not valid.")
}

func page[T any](items []T, token string, maxResults, limit int) ([]T, string, error) {
	if maxResults == 0 {
		maxResults = limit
	}
	if maxResults < 1 || maxResults > limit {
		return nil, "", apiErr("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", maxResults, limit)
	}
	offset, err := parsePageToken(token)
	if err != nil {
		return nil, "", err
	}
	if offset > len(items) {
		return nil, "", apiErr("InvalidNextToken", "The specified token is not valid.")
	}
	end := min(offset+maxResults, len(items))
	next := ""
	if end < len(items) {
		next = pageToken(end)
	}
	return items[offset:end], next, nil
}

func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
