package params

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Parameter types, as SSM names them.
const (
	TypeString       = "String"
	TypeStringList   = "StringList"
	TypeSecureString = "SecureString"
)

// maxValueLen is SSM's advanced-tier limit; standard is 4 KB.
const maxValueLen = 8192

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
	Name        string
	Type        string
	Value       string
	Version     int64
	Modified    time.Time
	ModifiedBy  string
	Description string
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

// PutInput is a PutParameter request.
type PutInput struct {
	Name, Type, Value, Description, User string
	Overwrite                            bool
}

// PutParameter stores a new version and returns its number.
func (s *Store) PutParameter(ctx context.Context, in PutInput) (int64, error) {
	if err := config.ValidateParameterName(in.Name); err != nil {
		return 0, apiErr("ValidationException", "%v", err)
	}
	if in.Value == "" {
		return 0, apiErr("ValidationException", "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.Value) > maxValueLen {
		return 0, apiErr("ValidationException", "parameter value is %d bytes; the limit is %d", len(in.Value), maxValueLen)
	}
	var version int64
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		in := in // a retry starts from the request again
		if s.db.Dialect == sqldb.Postgres {
			// Replicas putting one name take turns: each makes the next
			// version, rather than retrying on each other's.
			h := fnv.New64a()
			h.Write([]byte("jetway parameter " + in.Name))
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(h.Sum64())); err != nil {
				return err
			}
		}
		var current int64
		var currentType, currentDesc string
		err := tx.QueryRowContext(ctx, `SELECT version, type, description FROM param_versions WHERE name = ? ORDER BY version DESC LIMIT 1`, in.Name).Scan(&current, &currentType, &currentDesc)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if in.Type == "" {
				return apiErr("ValidationException", "A parameter type is required when you create a parameter.")
			}
		case err != nil:
			return err
		case !in.Overwrite:
			return apiErr("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		if in.Type == "" {
			in.Type = currentType
		}
		if in.Description == "" {
			in.Description = currentDesc
		}
		switch in.Type {
		case TypeString, TypeStringList, TypeSecureString:
		default:
			return apiErr("ValidationException", "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
		}
		stored := []byte(in.Value)
		if in.Type == TypeSecureString {
			stored = s.sealer.seal(in.Name, stored)
		}
		version = current + 1
		_, err = tx.ExecContext(ctx, `INSERT INTO param_versions (name, version, type, value, description, modified_at, modified_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			in.Name, version, in.Type, stored, in.Description, s.now().UnixNano(), in.User)
		return err
	})
	return version, err
}

const paramColumns = `name, version, type, value, description, modified_at, modified_by`

func (s *Store) scanParameter(row interface{ Scan(...any) error }, decrypt bool) (Parameter, error) {
	var p Parameter
	var value []byte
	var modified int64
	if err := row.Scan(&p.Name, &p.Version, &p.Type, &value, &p.Description, &modified, &p.ModifiedBy); err != nil {
		return p, err
	}
	p.Modified = time.Unix(0, modified)
	switch {
	case p.Type != TypeSecureString:
		p.Value = string(value)
	case decrypt:
		plain, err := s.sealer.open(p.Name, value)
		if err != nil {
			return p, err
		}
		p.Value = string(plain)
	default:
		p.Value = base64.StdEncoding.EncodeToString(value)
	}
	return p, nil
}

// GetParameter reads the newest version of a parameter, or the version
// named as "name:3".
func (s *Store) GetParameter(ctx context.Context, selector string, decrypt bool) (Parameter, error) {
	name, version, err := splitSelector(selector)
	if err != nil {
		return Parameter{}, err
	}
	q := `SELECT ` + paramColumns + ` FROM param_versions WHERE name = ? ORDER BY version DESC LIMIT 1`
	args := []any{name}
	if version > 0 {
		q = `SELECT ` + paramColumns + ` FROM param_versions WHERE name = ? AND version = ?`
		args = append(args, version)
	}
	p, err := s.scanParameter(s.db.QueryRowContext(ctx, q, args...), decrypt)
	if errors.Is(err, sql.ErrNoRows) {
		if version > 0 && s.exists(ctx, name) {
			return p, apiErr("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", version, name)
		}
		return p, apiErr("ParameterNotFound", "Parameter %s not found.", name)
	}
	return p, err
}

func (s *Store) exists(ctx context.Context, name string) bool {
	var n int
	_ = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions WHERE name = ?`, name).Scan(&n)
	return n > 0
}

func splitSelector(selector string) (string, int64, error) {
	name, v, ok := strings.Cut(selector, ":")
	if !ok {
		return selector, 0, nil
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil || version < 1 {
		return "", 0, apiErr("ValidationException", "Invalid parameter version or label %q in %q", v, selector)
	}
	return name, version, nil
}

// GetParameters reads up to 10 parameters; names that do not exist are
// returned as invalid, as SSM does.
func (s *Store) GetParameters(ctx context.Context, selectors []string, decrypt bool) (found []Parameter, invalid []string, err error) {
	if len(selectors) == 0 || len(selectors) > 10 {
		return nil, nil, apiErr("ValidationException", "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	seen := map[string]bool{}
	for _, sel := range selectors {
		if seen[sel] {
			continue
		}
		seen[sel] = true
		p, err := s.GetParameter(ctx, sel, decrypt)
		var apiError *APIError
		if errors.As(err, &apiError) && (apiError.Code == "ParameterNotFound" || apiError.Code == "ParameterVersionNotFound") {
			invalid = append(invalid, sel)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		found = append(found, p)
	}
	return found, invalid, nil
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

// latest lists the newest version of every parameter, sorted by name.
func (s *Store) latest(ctx context.Context, decrypt bool, filter func(name string) bool) ([]Parameter, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+paramColumns+` FROM param_versions p
		WHERE version = (SELECT MAX(version) FROM param_versions WHERE name = p.name) ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Parameter
	for rows.Next() {
		p, err := s.scanParameter(rows, decrypt)
		if err != nil {
			return nil, err
		}
		if filter == nil || filter(p.Name) {
			out = append(out, p)
		}
	}
	return out, rows.Err()
}

// GetParametersByPath lists the parameters below path: its direct children,
// or with recursive every descendant.
func (s *Store) GetParametersByPath(ctx context.Context, path string, recursive, decrypt bool, maxResults int, token string) ([]Parameter, string, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, "", apiErr("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
	}
	prefix := strings.TrimSuffix(path, "/") + "/"
	all, err := s.latest(ctx, decrypt, func(name string) bool {
		if !strings.HasPrefix(name, prefix) {
			return false
		}
		return recursive || !strings.Contains(name[len(prefix):], "/")
	})
	if err != nil {
		return nil, "", err
	}
	return page(all, token, maxResults, 10)
}

// DescribeParameters lists every parameter's metadata.
func (s *Store) DescribeParameters(ctx context.Context, maxResults int, token string) ([]Parameter, string, error) {
	all, err := s.latest(ctx, false, nil)
	if err != nil {
		return nil, "", err
	}
	for i := range all {
		all[i].Value = ""
	}
	return page(all, token, maxResults, 50)
}

// GetParameterHistory lists every version of a parameter, oldest first.
func (s *Store) GetParameterHistory(ctx context.Context, name string, decrypt bool, maxResults int, token string) ([]Parameter, string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+paramColumns+` FROM param_versions WHERE name = ? ORDER BY version`, name)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var all []Parameter
	for rows.Next() {
		p, err := s.scanParameter(rows, decrypt)
		if err != nil {
			return nil, "", err
		}
		all = append(all, p)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(all) == 0 {
		return nil, "", apiErr("ParameterNotFound", "Parameter %s not found.", name)
	}
	return page(all, token, maxResults, 50)
}

// DeleteParameter removes a parameter and its history.
func (s *Store) DeleteParameter(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM param_versions WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apiErr("ParameterNotFound", "Parameter %s not found.", name)
	}
	return nil
}

// DeleteParameters removes up to 10 parameters.
func (s *Store) DeleteParameters(ctx context.Context, names []string) (deleted, invalid []string, err error) {
	if len(names) == 0 || len(names) > 10 {
		return nil, nil, apiErr("ValidationException", "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	for _, n := range names {
		err := s.DeleteParameter(ctx, n)
		var apiError *APIError
		if errors.As(err, &apiError) && apiError.Code == "ParameterNotFound" {
			invalid = append(invalid, n)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		deleted = append(deleted, n)
	}
	return deleted, invalid, nil
}

func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
