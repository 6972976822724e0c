package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/jetway-dev/jetway/internal/oidc"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// The OIDC issuer's signing keys (package oidc), shared by every server
// of the database: the private half sealed with the master key (bound to
// the key's ID), the signer marked by signing = 1. A UNIQUE column allows
// one such row and any number of NULLs on both engines, so "there is one
// signer" is the database's rule: two servers that both find none and
// both insert theirs end with one, and both sign with it.

// v9: the issuer's keys: the signer (signing = 1) and the keys it
// replaced (signing NULL, retired_at set), kept while their tokens may
// live.
const v9 = `
CREATE TABLE oidc_keys (
	kid         TEXT PRIMARY KEY,
	private_key TEXT NOT NULL,
	signing     INTEGER UNIQUE,
	created_at  BIGINT NOT NULL,
	retired_at  BIGINT
);`

func oidcKeyAAD(kid string) string { return "oidc-key:" + kid }

func (s *Store) sealOIDCKey(k oidc.Key) (string, error) {
	if s.sealer == nil {
		return "", ErrNoSealer
	}
	der, err := k.MarshalPrivate()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(s.sealer.SealValue(oidcKeyAAD(k.ID), der)), nil
}

func (s *Store) openOIDCKey(kid, stored string, created int64, retired sql.NullInt64) (oidc.Key, error) {
	if s.sealer == nil {
		return oidc.Key{}, ErrNoSealer
	}
	raw, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return oidc.Key{}, fmt.Errorf("OIDC key %s: %w", kid, err)
	}
	der, err := s.sealer.OpenValue(oidcKeyAAD(kid), raw)
	if err != nil {
		return oidc.Key{}, fmt.Errorf("OIDC key %s: %w", kid, err)
	}
	var retiredAt *time.Time
	if retired.Valid {
		t := time.Unix(0, retired.Int64).UTC()
		retiredAt = &t
	}
	return oidc.ParseKey(kid, der, time.Unix(0, created).UTC(), retiredAt)
}

// OIDCKeys lists the issuer's keys: the signer first (if there is one),
// then the retired ones, newest first. A key that does not open (another
// master key) is an error naming it.
func (s *Store) OIDCKeys(ctx context.Context) ([]oidc.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, private_key, created_at, retired_at FROM oidc_keys
		ORDER BY CASE WHEN signing IS NULL THEN 1 ELSE 0 END, created_at DESC, kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []oidc.Key
	for rows.Next() {
		var kid, stored string
		var created int64
		var retired sql.NullInt64
		if err := rows.Scan(&kid, &stored, &created, &retired); err != nil {
			return nil, err
		}
		k, err := s.openOIDCKey(kid, stored, created, retired)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// EnsureOIDCKey stores k as the signer if there is none, and returns the
// signer: k, or the key another server stored first. Safe to call from
// every server at once.
func (s *Store) EnsureOIDCKey(ctx context.Context, k oidc.Key) (oidc.Key, error) {
	sealed, err := s.sealOIDCKey(k)
	if err != nil {
		return oidc.Key{}, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO oidc_keys (kid, private_key, signing, created_at) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING`,
		k.ID, sealed, k.CreatedAt.UnixNano()); err != nil {
		return oidc.Key{}, err
	}
	var kid, stored string
	var created int64
	var retired sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT kid, private_key, created_at, retired_at FROM oidc_keys WHERE signing = 1`).Scan(&kid, &stored, &created, &retired)
	if err != nil {
		return oidc.Key{}, err
	}
	return s.openOIDCKey(kid, stored, created, retired)
}

// RotateOIDCKey makes k the signer, retires the signer it replaces (as of
// k.CreatedAt), and drops the keys retired before dropBefore, whose tokens
// have all expired. It returns how many keys it dropped.
func (s *Store) RotateOIDCKey(ctx context.Context, k oidc.Key, dropBefore time.Time) (int, error) {
	sealed, err := s.sealOIDCKey(k)
	if err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE oidc_keys SET signing = NULL, retired_at = ? WHERE signing = 1`, k.CreatedAt.UnixNano()); err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO oidc_keys (kid, private_key, signing, created_at) VALUES (?, ?, 1, ?)`, k.ID, sealed, k.CreatedAt.UnixNano())
	if sqldb.IsUniqueViolation(err) {
		// On PostgreSQL a concurrent rotation's signer, which this
		// transaction's UPDATE did not see.
		return 0, ErrRotated
	}
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM oidc_keys WHERE signing IS NULL AND retired_at < ?`, dropBefore.UnixNano())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), tx.Commit()
}
