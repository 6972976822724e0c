package params

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// Secret is one version of a Secrets Manager secret.
type Secret struct {
	ARN         string
	Name        string
	Description string
	VersionID   string
	String      string
	Binary      []byte
	IsBinary    bool
	Created     time.Time
	Changed     time.Time
	Deleted     *time.Time
	// Current is the version labelled AWSCURRENT.
	Current string
	// Previous is the version that was current before the last
	// PutSecretValue (staging label AWSPREVIOUS), or "".
	Previous string
}

// secretARN builds an ARN for a new secret; AWS appends six random
// characters so that a re-created secret gets a new ARN.
func secretARN(region, name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, AccountID, name, newVersionID()[:6])
}

// CreateSecret stores a new secret with its first version.
func (s *Store) CreateSecret(ctx context.Context, region, name, description string, value []byte, binary bool) (Secret, error) {
	if err := config.ValidateSecretName(name); err != nil || strings.HasPrefix(name, "arn:") {
		return Secret{}, apiErr("ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	var sec Secret
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		var deleted sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT deleted_at FROM secrets WHERE name = ?`, name).Scan(&deleted)
		switch {
		case err == nil && deleted.Valid:
			return apiErr("InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		case err == nil:
			return apiErr("ResourceExistsException", "The operation failed because the secret %s already exists.", name)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		now := s.now()
		sec = Secret{ARN: secretARN(region, name), Name: name, Description: description, VersionID: newVersionID(), Created: now, Changed: now}
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, arn, description, created_at, changed_at, current) VALUES (?, ?, ?, ?, ?, ?)`,
			name, sec.ARN, description, now.UnixNano(), now.UnixNano(), sec.VersionID); err != nil {
			return err
		}
		return s.insertSecretVersion(ctx, tx, name, sec.VersionID, value, binary, now)
	})
	if err != nil {
		return Secret{}, err
	}
	return sec, nil
}

func (s *Store) insertSecretVersion(ctx context.Context, tx *sqldb.Tx, name, versionID string, value []byte, binary bool, now time.Time) error {
	if len(value) == 0 {
		return apiErr("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	}
	if len(value) > 65536 {
		return apiErr("ValidationException", "secret value is %d bytes; the limit is 65536", len(value))
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO secret_versions (name, version_id, value, is_binary, created_at) VALUES (?, ?, ?, ?, ?)`,
		name, versionID, s.sealer.seal("secret:"+name, value), binary, now.UnixNano())
	return err
}

// resolveSecretID turns a name or an ARN into the stored name.
func (s *Store) resolveSecretID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (name string, deleted bool, err error) {
	col := "name"
	if strings.HasPrefix(id, "arn:") {
		col = "arn"
	}
	var del sql.NullInt64
	err = q.QueryRowContext(ctx, `SELECT name, deleted_at FROM secrets WHERE `+col+` = ?`, id).Scan(&name, &del)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, apiErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	return name, del.Valid, err
}

// PutSecretValue adds a version and makes it current.
func (s *Store) PutSecretValue(ctx context.Context, id string, value []byte, binary bool) (Secret, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Secret{}, err
	}
	defer tx.Rollback()
	name, deleted, err := s.resolveSecretID(ctx, tx, id)
	if err != nil {
		return Secret{}, err
	}
	if deleted {
		return Secret{}, apiErr("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
	}
	now := s.now()
	version := newVersionID()
	if err := s.insertSecretVersion(ctx, tx, name, version, value, binary, now); err != nil {
		return Secret{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE secrets SET previous = current, current = ?, changed_at = ? WHERE name = ?`, version, now.UnixNano(), name); err != nil {
		return Secret{}, err
	}
	if err := tx.Commit(); err != nil {
		return Secret{}, err
	}
	return s.describeSecret(ctx, name, version)
}

func (s *Store) describeSecret(ctx context.Context, name, versionID string) (Secret, error) {
	var sec Secret
	var created, changed int64
	var deleted sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT arn, name, description, created_at, changed_at, deleted_at, current, previous FROM secrets WHERE name = ?`, name).
		Scan(&sec.ARN, &sec.Name, &sec.Description, &created, &changed, &deleted, &sec.Current, &sec.Previous)
	if err != nil {
		return sec, err
	}
	sec.Created, sec.Changed = time.Unix(0, created), time.Unix(0, changed)
	if deleted.Valid {
		t := time.Unix(0, deleted.Int64)
		sec.Deleted = &t
	}
	sec.VersionID = sec.Current
	if versionID != "" {
		sec.VersionID = versionID
	}
	return sec, nil
}

// GetSecretValue reads the current version, the one named by versionID, or
// the one with the staging label stage (AWSCURRENT, AWSPREVIOUS).
func (s *Store) GetSecretValue(ctx context.Context, id, versionID, stage string) (Secret, error) {
	name, deleted, err := s.resolveSecretID(ctx, s.db, id)
	if err != nil {
		return Secret{}, err
	}
	if deleted {
		return Secret{}, apiErr("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
	}
	sec, err := s.describeSecret(ctx, name, versionID)
	if err != nil {
		return Secret{}, err
	}
	switch stage {
	case "", "AWSCURRENT":
	case "AWSPREVIOUS":
		if sec.Previous == "" || (versionID != "" && versionID != sec.Previous) {
			return Secret{}, apiErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
		sec.VersionID = sec.Previous
	default:
		return Secret{}, apiErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
	}
	var sealed []byte
	var created int64
	err = s.db.QueryRowContext(ctx, `SELECT value, is_binary, created_at FROM secret_versions WHERE name = ? AND version_id = ?`, name, sec.VersionID).
		Scan(&sealed, &sec.IsBinary, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Secret{}, apiErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", sec.VersionID)
	}
	if err != nil {
		return Secret{}, err
	}
	plain, err := s.sealer.open("secret:"+name, sealed)
	if err != nil {
		return Secret{}, err
	}
	if sec.IsBinary {
		sec.Binary = plain
	} else {
		sec.String = string(plain)
	}
	sec.Created = time.Unix(0, created)
	return sec, nil
}

// DeleteSecret removes a secret at once with force, else marks it for
// deletion after the recovery window.
func (s *Store) DeleteSecret(ctx context.Context, id string, force bool, windowDays int) (Secret, time.Time, error) {
	if force && windowDays != 0 {
		return Secret{}, time.Time{}, apiErr("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	if windowDays == 0 {
		windowDays = 30
	}
	if !force && (windowDays < 7 || windowDays > 30) {
		return Secret{}, time.Time{}, apiErr("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	name, _, err := s.resolveSecretID(ctx, s.db, id)
	if err != nil {
		return Secret{}, time.Time{}, err
	}
	sec, err := s.describeSecret(ctx, name, "")
	if err != nil {
		return Secret{}, time.Time{}, err
	}
	when := s.now()
	if force {
		_, err = s.db.ExecContext(ctx, `DELETE FROM secrets WHERE name = ?`, name)
	} else {
		when = when.Add(time.Duration(windowDays) * 24 * time.Hour)
		_, err = s.db.ExecContext(ctx, `UPDATE secrets SET deleted_at = ? WHERE name = ?`, when.UnixNano(), name)
	}
	return sec, when, err
}

// ListSecrets lists the secrets not marked for deletion, by name.
func (s *Store) ListSecrets(ctx context.Context, maxResults int, token string) ([]Secret, string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM secrets WHERE deleted_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, "", err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, "", err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	names, next, err := page(names, token, maxResults, 100)
	if err != nil {
		return nil, "", err
	}
	var out []Secret
	for _, n := range names {
		sec, err := s.describeSecret(ctx, n, "")
		if err != nil {
			return nil, "", err
		}
		out = append(out, sec)
	}
	return out, next, nil
}

// stages lists the staging labels of a version of sec.
func (sec Secret) stages(versionID string) []string {
	var out []string
	if versionID == sec.Current {
		out = append(out, "AWSCURRENT")
	}
	if versionID == sec.Previous && sec.Previous != "" {
		out = append(out, "AWSPREVIOUS")
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func (sec Secret) versionsToStages() map[string][]string {
	m := map[string][]string{sec.Current: {"AWSCURRENT"}}
	if sec.Previous != "" {
		m[sec.Previous] = []string{"AWSPREVIOUS"}
	}
	return m
}
