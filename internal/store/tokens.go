package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetway-dev/jetway/internal/sqldb"
)

// API tokens per person or machine (jetway tokens), kept by a SHA-256 of
// the token: the database holds nothing a request could be made with. The
// server's own token (DATA/token) is not among them. A revoked token's row
// stays, stamped, so that its use is refused and recorded by name; a new
// token may take its name.

const tokenColumns = `name, hash, role, projects, params, created_by, created_at, last_used_at, expires_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (StoredToken, error) {
	var t StoredToken
	var projects, params string
	var created int64
	var used, expires, revoked sql.NullInt64
	if err := row.Scan(&t.Name, &t.Hash, &t.Role, &projects, &params, &t.CreatedBy, &created, &used, &expires, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, ErrNotFound
		}
		return t, err
	}
	t.Projects, t.Params = globList(projects), globList(params)
	t.CreatedAt = time.Unix(0, created).UTC()
	if used.Valid {
		u := time.Unix(0, used.Int64).UTC()
		t.LastUsedAt = &u
	}
	if expires.Valid {
		e := time.Unix(0, expires.Int64).UTC()
		t.ExpiresAt = &e
	}
	if revoked.Valid {
		r := time.Unix(0, revoked.Int64).UTC()
		t.RevokedAt = &r
	}
	return t, nil
}

// globList reads a stored list of globs; nil for none.
func globList(stored string) []string {
	var globs []string
	if err := json.Unmarshal([]byte(stored), &globs); err != nil || len(globs) == 0 {
		return nil
	}
	return globs
}

func globJSON(globs []string) string {
	if len(globs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(globs)
	return string(b)
}

// CreateToken stores a new token; ErrExists when its name is a live
// token's or its digest is taken. It takes the name of a revoked token,
// whose use is then refused as any unknown token's.
func (s *Store) CreateToken(ctx context.Context, t StoredToken) error {
	var expires sql.NullInt64
	if t.ExpiresAt != nil {
		expires = sql.NullInt64{Int64: t.ExpiresAt.UnixNano(), Valid: true}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ? AND revoked_at IS NOT NULL`, t.Name); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL)`,
		t.Name, t.Hash, t.Role, globJSON(t.Projects), globJSON(t.Params), t.CreatedBy, t.CreatedAt.UnixNano(), expires)
	if sqldb.IsUniqueViolation(err) {
		return ErrExists
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// TokenByHash finds a token by its digest, revoked ones too; ErrNotFound
// if none.
func (s *Store) TokenByHash(ctx context.Context, hash string) (StoredToken, error) {
	return scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
}

// ListTokens lists the live (not revoked) tokens by name.
func (s *Store) ListTokens(ctx context.Context) ([]StoredToken, error) {
	return queryAll(ctx, s.db, scanToken, `SELECT `+tokenColumns+` FROM api_tokens WHERE revoked_at IS NULL ORDER BY name`)
}

// RevokeToken stamps a live token revoked; ErrNotFound if there is no
// live token of that name.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`, time.Now().UnixNano(), name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchToken records that a token was used at t.
func (s *Store) TouchToken(ctx context.Context, hash string, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE hash = ?`, t.UnixNano(), hash)
	return err
}
