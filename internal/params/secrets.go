package params

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

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
	// Deleted is when a secret scheduled for deletion goes.
	Deleted *time.Time
	// Current is the version labelled AWSCURRENT ("" for a secret made
	// without a value).
	Current string
	// Previous is the version that was current before the last
	// PutSecretValue (staging label AWSPREVIOUS), or "".
	Previous string
	// Stages are the other staging labels (AWSPENDING, custom ones), each
	// on one version.
	Stages map[string]string
	// Tags are the secret's (DescribeSecret, ListSecrets).
	Tags []Tag
}

// Staging labels Secrets Manager moves itself.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// secretARN builds an ARN for a new secret; AWS appends six random
// characters so that a re-created secret gets a new ARN.
func secretARN(region, name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, AccountID, name, newVersionID()[:6])
}

var errMarkedDeleted = apiErr("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")

// SecretWrite is a new value for a secret: CreateSecret, PutSecretValue,
// UpdateSecret.
type SecretWrite struct {
	// Token is the ClientRequestToken: the new version's id, and what
	// makes a repeated request harmless. Empty: a new id.
	Token  string
	Value  []byte
	Binary bool
	// Stages are the staging labels the version gets (PutSecretValue);
	// nil is AWSCURRENT.
	Stages []string
}

func (w SecretWrite) hasValue() bool { return len(w.Value) > 0 }

func validToken(token string) error {
	if token != "" && (len(token) < 32 || len(token) > 64) {
		return apiErr("ValidationException", "1 validation error detected: Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64", token)
	}
	return nil
}

// CreateSecretInput is a CreateSecret request.
type CreateSecretInput struct {
	Region, Name, Description string
	// Write is the first value; none makes a secret without versions.
	Write SecretWrite
	Tags  []Tag
}

// CreateSecret stores a new secret, with its first version if it has a
// value. Repeated with the same token and value, it answers as the first
// time.
func (s *Store) CreateSecret(ctx context.Context, in CreateSecretInput) (Secret, error) {
	if err := config.ValidateSecretName(in.Name); err != nil || strings.HasPrefix(in.Name, "arn:") {
		return Secret{}, apiErr("ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if err := validToken(in.Write.Token); err != nil {
		return Secret{}, err
	}
	if len(in.Description) > 2048 {
		return Secret{}, apiErr("ValidationException", "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	if err := validateTags(in.Tags, "ValidationException"); err != nil {
		return Secret{}, err
	}
	if len(in.Tags) > maxTags {
		return Secret{}, apiErr("ValidationException", "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags)
	}
	var sec Secret
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		var deleted sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT deleted_at FROM secrets WHERE name = ?`, in.Name).Scan(&deleted)
		switch {
		case err == nil && deleted.Valid:
			return apiErr("InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		case err == nil:
			if in.Write.Token != "" && in.Write.hasValue() {
				if same, err := s.sameVersion(ctx, tx, in.Name, in.Write); err != nil || same {
					sec = Secret{Name: in.Name, VersionID: in.Write.Token}
					return err // a retry of the request that made it
				}
			}
			return apiErr("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		now := s.now()
		sec = Secret{ARN: secretARN(in.Region, in.Name), Name: in.Name, Description: in.Description, Created: now, Changed: now}
		if in.Write.hasValue() {
			sec.VersionID = versionIDFor(in.Write.Token)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, arn, description, created_at, changed_at, current) VALUES (?, ?, ?, ?, ?, ?)`,
			in.Name, sec.ARN, in.Description, now.UnixNano(), now.UnixNano(), sec.VersionID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM params_tags WHERE kind = ? AND name = ?`, kindSecret, in.Name); err != nil {
			return err
		}
		if err := s.addTags(ctx, tx, kindSecret, in.Name, in.Tags, nil); err != nil {
			return err
		}
		if !in.Write.hasValue() {
			return nil
		}
		return s.insertSecretVersion(ctx, tx, in.Name, sec.VersionID, in.Write.Value, in.Write.Binary, now)
	})
	if err != nil {
		return Secret{}, err
	}
	if sec.ARN == "" { // the retried request's secret
		return s.describeSecret(ctx, sec.Name, sec.VersionID)
	}
	return sec, nil
}

func versionIDFor(token string) string {
	if token != "" {
		return token
	}
	return newVersionID()
}

// sameVersion tells whether the secret has a version with the write's
// token as its id: with the same value true, with another value
// ResourceExistsException (a version never changes).
func (s *Store) sameVersion(ctx context.Context, q queryer, name string, w SecretWrite) (bool, error) {
	var sealed []byte
	var binary bool
	err := q.QueryRowContext(ctx, `SELECT value, is_binary FROM secret_versions WHERE name = ? AND version_id = ?`, name, w.Token).Scan(&sealed, &binary)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	plain, err := s.sealer.open("secret:"+name, sealed)
	if err != nil {
		return false, err
	}
	if binary != w.Binary || !bytes.Equal(plain, w.Value) {
		return false, apiErr("ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
	}
	return true, nil
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

// purgeDeletedSecrets removes the secrets whose recovery window has
// passed, as Secrets Manager does when it ends.
func (s *Store) purgeDeletedSecrets(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE deleted_at IS NOT NULL AND deleted_at <= ?`, s.now().UnixNano())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM params_tags WHERE kind = ? AND name NOT IN (SELECT name FROM secrets)`, kindSecret)
		}
		return err
	})
}

// PutSecretValue adds a version with the write's staging labels
// (AWSCURRENT if none), moving each label from the version that had it.
// A repeat with the same token and value changes nothing.
func (s *Store) PutSecretValue(ctx context.Context, id string, w SecretWrite) (Secret, error) {
	if err := validToken(w.Token); err != nil {
		return Secret{}, err
	}
	if !w.hasValue() {
		return Secret{}, apiErr("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	}
	if w.Stages == nil {
		w.Stages = []string{stageCurrent}
	}
	if len(w.Stages) < 1 || len(w.Stages) > 20 {
		return Secret{}, apiErr("ValidationException", "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length less than or equal to 20 and greater than or equal to 1")
	}
	for _, st := range w.Stages {
		if st == "" || len(st) > 256 {
			return Secret{}, apiErr("ValidationException", "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length less than or equal to 256 and greater than or equal to 1")
		}
	}
	var name, version string
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		var deleted bool
		var err error
		if name, deleted, err = s.resolveSecretID(ctx, tx, id); err != nil {
			return err
		}
		if deleted {
			return errMarkedDeleted
		}
		version = versionIDFor(w.Token)
		if w.Token != "" {
			if same, err := s.sameVersion(ctx, tx, name, w); err != nil || same {
				return err
			}
		}
		now := s.now()
		if err := s.insertSecretVersion(ctx, tx, name, version, w.Value, w.Binary, now); err != nil {
			return err
		}
		return s.moveStages(ctx, tx, name, version, w.Stages, now)
	})
	if err != nil {
		return Secret{}, err
	}
	return s.describeSecret(ctx, name, version)
}

// moveStages puts staging labels on a version. AWSCURRENT moves the
// version that had it to AWSPREVIOUS.
func (s *Store) moveStages(ctx context.Context, tx *sqldb.Tx, name, version string, stages []string, now time.Time) error {
	for _, st := range stages {
		var err error
		switch st {
		case stageCurrent:
			_, err = tx.ExecContext(ctx, `UPDATE secrets SET previous = CASE WHEN current = '' OR current = ? THEN previous ELSE current END, current = ? WHERE name = ?`, version, version, name)
		case stagePrevious:
			_, err = tx.ExecContext(ctx, `UPDATE secrets SET previous = ? WHERE name = ?`, version, name)
		default:
			if _, err = tx.ExecContext(ctx, `DELETE FROM secret_stages WHERE name = ? AND stage = ?`, name, st); err == nil {
				_, err = tx.ExecContext(ctx, `INSERT INTO secret_stages (name, stage, version_id) VALUES (?, ?, ?)`, name, st, version)
			}
		}
		if err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE secrets SET changed_at = ? WHERE name = ?`, now.UnixNano(), name)
	return err
}

// UpdateSecret changes a secret's description (when description is not
// nil) and, given a value, adds a version labelled AWSCURRENT. It returns
// the new version's id ("" without a value).
func (s *Store) UpdateSecret(ctx context.Context, id string, description *string, w SecretWrite) (Secret, error) {
	if err := validToken(w.Token); err != nil {
		return Secret{}, err
	}
	if description != nil && len(*description) > 2048 {
		return Secret{}, apiErr("ValidationException", "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	var name, version string
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		var deleted bool
		var err error
		if name, deleted, err = s.resolveSecretID(ctx, tx, id); err != nil {
			return err
		}
		if deleted {
			return errMarkedDeleted
		}
		now := s.now()
		if description != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE secrets SET description = ?, changed_at = ? WHERE name = ?`, *description, now.UnixNano(), name); err != nil {
				return err
			}
		}
		if !w.hasValue() {
			return nil
		}
		version = versionIDFor(w.Token)
		if w.Token != "" {
			if same, err := s.sameVersion(ctx, tx, name, w); err != nil || same {
				return err
			}
		}
		if err := s.insertSecretVersion(ctx, tx, name, version, w.Value, w.Binary, now); err != nil {
			return err
		}
		return s.moveStages(ctx, tx, name, version, []string{stageCurrent}, now)
	})
	if err != nil {
		return Secret{}, err
	}
	sec, err := s.describeSecret(ctx, name, version)
	sec.VersionID = version
	return sec, err
}

// DescribeSecret reads a secret's metadata and tags, also of one
// scheduled for deletion.
func (s *Store) DescribeSecret(ctx context.Context, id string) (Secret, error) {
	name, _, err := s.resolveSecretID(ctx, s.db, id)
	if err != nil {
		return Secret{}, err
	}
	sec, err := s.describeSecret(ctx, name, "")
	if err != nil {
		return Secret{}, err
	}
	sec.Tags, err = s.tagsOf(ctx, s.db, kindSecret, name)
	return sec, err
}

func (s *Store) describeSecret(ctx context.Context, name, versionID string) (Secret, error) {
	var sec Secret
	var created, changed int64
	var deleted sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT arn, name, description, created_at, changed_at, deleted_at, current, previous FROM secrets WHERE name = ?`, name).
		Scan(&sec.ARN, &sec.Name, &sec.Description, &created, &changed, &deleted, &sec.Current, &sec.Previous)
	if errors.Is(err, sql.ErrNoRows) {
		return sec, apiErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
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
	rows, err := s.db.QueryContext(ctx, `SELECT stage, version_id FROM secret_stages WHERE name = ?`, name)
	if err != nil {
		return sec, err
	}
	defer rows.Close()
	sec.Stages = map[string]string{}
	for rows.Next() {
		var st, v string
		if err := rows.Scan(&st, &v); err != nil {
			return sec, err
		}
		sec.Stages[st] = v
	}
	return sec, rows.Err()
}

// GetSecretValue reads the current version, the one named by versionID, or
// the one with the staging label stage.
func (s *Store) GetSecretValue(ctx context.Context, id, versionID, stage string) (Secret, error) {
	name, deleted, err := s.resolveSecretID(ctx, s.db, id)
	if err != nil {
		return Secret{}, err
	}
	if deleted {
		return Secret{}, errMarkedDeleted
	}
	sec, err := s.describeSecret(ctx, name, versionID)
	if err != nil {
		return Secret{}, err
	}
	if stage != "" || versionID == "" {
		if stage == "" {
			stage = stageCurrent
		}
		staged := sec.Stages[stage]
		switch stage {
		case stageCurrent:
			staged = sec.Current
		case stagePrevious:
			staged = sec.Previous
		}
		if staged == "" || (versionID != "" && versionID != staged) {
			return Secret{}, apiErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
		sec.VersionID = staged
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

// DeleteSecret removes a secret at once with force, else schedules its
// deletion after the recovery window (window nil: 30 days). As on AWS, a
// forced delete of a secret that does not exist succeeds, and a secret
// already scheduled is deleted again only by force.
func (s *Store) DeleteSecret(ctx context.Context, region, id string, force bool, window *int) (Secret, time.Time, error) {
	if force && window != nil {
		return Secret{}, time.Time{}, apiErr("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := 30
	if window != nil {
		days = *window
	}
	if !force && (days < 7 || days > 30) {
		return Secret{}, time.Time{}, apiErr("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	name, deleted, err := s.resolveSecretID(ctx, s.db, id)
	var apiError *APIError
	if force && errors.As(err, &apiError) && apiError.Code == "ResourceNotFoundException" {
		sec := Secret{Name: id, ARN: id}
		if !strings.HasPrefix(id, "arn:") {
			sec.ARN = secretARN(region, id)
		}
		return sec, s.now(), nil
	}
	if err != nil {
		return Secret{}, time.Time{}, err
	}
	if deleted && !force {
		return Secret{}, time.Time{}, apiErr("InvalidRequestException", "You tried to perform the operation on a secret that's currently marked deleted.")
	}
	sec, err := s.describeSecret(ctx, name, "")
	if err != nil {
		return Secret{}, time.Time{}, err
	}
	when := s.now()
	err = s.inTx(ctx, func(tx *sqldb.Tx) error {
		if !force {
			when = when.Add(time.Duration(days) * 24 * time.Hour)
			_, err := tx.ExecContext(ctx, `UPDATE secrets SET deleted_at = ? WHERE name = ?`, when.UnixNano(), name)
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE name = ?`, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM params_tags WHERE kind = ? AND name = ?`, kindSecret, name)
		return err
	})
	return sec, when, err
}

// RestoreSecret cancels a secret's scheduled deletion.
func (s *Store) RestoreSecret(ctx context.Context, id string) (Secret, error) {
	name, _, err := s.resolveSecretID(ctx, s.db, id)
	if err != nil {
		return Secret{}, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE secrets SET deleted_at = NULL WHERE name = ?`, name); err != nil {
		return Secret{}, err
	}
	return s.describeSecret(ctx, name, "")
}

// TagSecret adds tags to a secret and removes the keys in remove.
func (s *Store) TagSecret(ctx context.Context, id string, add []Tag, remove []string) (string, error) {
	if err := validateTags(add, "ValidationException"); err != nil {
		return "", err
	}
	var name string
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		var deleted bool
		var err error
		if name, deleted, err = s.resolveSecretID(ctx, tx, id); err != nil {
			return err
		}
		if deleted {
			return errMarkedDeleted
		}
		if err := s.removeTags(ctx, tx, kindSecret, name, remove); err != nil {
			return err
		}
		return s.addTags(ctx, tx, kindSecret, name, add, apiErr("LimitExceededException", "A secret may have at most %d tags.", maxTags))
	})
	return name, err
}

// SecretFilter is one of ListSecrets' Filters: a key (name, description,
// tag-key, tag-value, primary-region, owning-service, all) and values, any
// of which may match; a value beginning with ! negates.
type SecretFilter struct {
	Key    string
	Values []string
}

var secretFilterValue = regexp.MustCompile(`^!?[a-zA-Z0-9 :_@/+=.\-!]*$`)

// ListSecretsInput is a ListSecrets request.
type ListSecretsInput struct {
	Filters                []SecretFilter
	IncludePlannedDeletion bool
	// SortOrder asc or desc sorts by creation; "" by name.
	SortOrder  string
	MaxResults int
	NextToken  string
}

// ListSecrets lists the secrets that match every filter, with their tags:
// by default those not scheduled for deletion.
func (s *Store) ListSecrets(ctx context.Context, in ListSecretsInput) ([]Secret, string, error) {
	for i, f := range in.Filters {
		switch f.Key {
		case "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all":
		default:
			return nil, "", apiErr("ValidationException", "1 validation error detected: Value '%s' at 'filters.%d.member.key' failed to satisfy constraint: Member must satisfy enum value set: [all, name, tag-key, description, tag-value, primary-region, owning-service]", f.Key, i+1)
		}
		if len(f.Values) < 1 || len(f.Values) > 10 {
			return nil, "", apiErr("ValidationException", "1 validation error detected: Value at 'filters.%d.member.values' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1", i+1)
		}
		for _, v := range f.Values {
			if len(v) > 512 || !secretFilterValue.MatchString(v) {
				return nil, "", apiErr("ValidationException", "1 validation error detected: Value '%s' at 'filters.%d.member.values' failed to satisfy constraint: Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$", v, i+1)
			}
		}
	}
	switch in.SortOrder {
	case "", "asc", "desc":
	default:
		return nil, "", apiErr("ValidationException", "1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]", in.SortOrder)
	}
	q := `SELECT name FROM secrets WHERE deleted_at IS NULL ORDER BY name`
	if in.IncludePlannedDeletion {
		q = `SELECT name FROM secrets ORDER BY name`
	}
	rows, err := s.db.QueryContext(ctx, q)
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
	tags, err := s.allTags(ctx, kindSecret)
	if err != nil {
		return nil, "", err
	}
	var all []Secret
	for _, n := range names {
		sec, err := s.describeSecret(ctx, n, "")
		if err != nil {
			return nil, "", err
		}
		sec.Tags = tags[n]
		if sec.Tags == nil {
			sec.Tags = []Tag{}
		}
		if matchesSecretFilters(sec, in.Filters) {
			all = append(all, sec)
		}
	}
	if in.SortOrder != "" {
		sort.SliceStable(all, func(i, j int) bool {
			if in.SortOrder == "desc" {
				return all[i].Created.After(all[j].Created)
			}
			return all[i].Created.Before(all[j].Created)
		})
	}
	return page(all, in.NextToken, in.MaxResults, 100)
}

func matchesSecretFilters(sec Secret, filters []SecretFilter) bool {
	for _, f := range filters {
		if !matchesSecretFilter(sec, f) {
			return false
		}
	}
	return true
}

// matchesSecretFilter: any positive value matching, and no negated one.
func matchesSecretFilter(sec Secret, f SecretFilter) bool {
	var attrs []string
	fold := false
	switch f.Key {
	case "name":
		attrs = []string{sec.Name}
	case "description":
		attrs, fold = []string{sec.Description}, true
	case "tag-key":
		for _, t := range sec.Tags {
			attrs = append(attrs, t.Key)
		}
	case "tag-value":
		for _, t := range sec.Tags {
			attrs = append(attrs, t.Value)
		}
	case "primary-region", "owning-service":
		// The embedded store has no replicas and no owning services.
	case "all":
		attrs, fold = []string{sec.Name, sec.Description}, true
		for _, t := range sec.Tags {
			attrs = append(attrs, t.Key, t.Value)
		}
	}
	positive, matched := false, false
	for _, v := range f.Values {
		neg := strings.HasPrefix(v, "!")
		v = strings.TrimPrefix(v, "!")
		hit := false
		if f.Key == "all" {
			hit = allWordsMatch(attrs, v)
		} else {
			for _, a := range attrs {
				if fold && strings.HasPrefix(strings.ToLower(a), strings.ToLower(v)) || !fold && strings.HasPrefix(a, v) {
					hit = true
				}
			}
		}
		if neg && hit {
			return false
		}
		if !neg {
			positive = true
			matched = matched || hit
		}
	}
	return !positive || matched
}

// allWordsMatch is the "all" filter: the value's words (split where
// letters change case or kind), each found in some attribute, ignoring
// case.
func allWordsMatch(attrs []string, value string) bool {
	words := searchWords(value)
	if len(words) == 0 {
		return true
	}
	for _, w := range words {
		found := false
		for _, a := range attrs {
			if slices.ContainsFunc(searchWords(a), func(x string) bool { return strings.HasPrefix(x, w) }) || strings.Contains(strings.ToLower(a), w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func searchWords(s string) []string {
	var words []string
	var cur []rune
	kind := func(r rune) int {
		switch {
		case unicode.IsLower(r):
			return 1
		case unicode.IsUpper(r):
			return 2
		case unicode.IsDigit(r):
			return 3
		}
		return 0
	}
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = nil
		}
	}
	prev := 0
	for _, r := range s {
		k := kind(r)
		switch {
		case k == 0:
			flush()
		case prev != 0 && k != prev && !(prev == 2 && k == 1):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = k
	}
	flush()
	return words
}

// stages lists the staging labels of a version of sec.
func (sec Secret) stages(versionID string) []string {
	var out []string
	if versionID == sec.Current && versionID != "" {
		out = append(out, stageCurrent)
	}
	if versionID == sec.Previous && sec.Previous != "" {
		out = append(out, stagePrevious)
	}
	for st, v := range sec.Stages {
		if v == versionID {
			out = append(out, st)
		}
	}
	if out == nil {
		out = []string{}
	}
	sort.Strings(out)
	return out
}

// versionsToStages maps every version that has a staging label to its
// labels.
func (sec Secret) versionsToStages() map[string][]string {
	m := map[string][]string{}
	for _, v := range append([]string{sec.Current, sec.Previous}, mapValues(sec.Stages)...) {
		if v != "" {
			m[v] = sec.stages(v)
		}
	}
	return m
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
