package params

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
)

// Tag is a key-value pair on a parameter or a secret, as both services
// name its fields.
type Tag struct {
	Key   string
	Value string
}

// Tag kinds: which service's resource a tag belongs to.
const (
	kindParameter = "parameter"
	kindSecret    = "secret"
)

// maxTags is both services' limit of tags on one resource.
const maxTags = 50

var tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// validateTags applies both services' rules for tags: keys of 1 to 128
// characters, values of up to 256, letters, digits, spaces and _.:/=+-@,
// no key beginning with "aws:", each key once. code is the service's
// error code for a broken rule.
func validateTags(tags []Tag, code string) error {
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case len(t.Key) < 1 || len(t.Key) > 128:
			return apiErr(code, "1 validation error detected: Value '%s' at 'tags.key' failed to satisfy constraint: Member must have length between 1 and 128", t.Key)
		case len(t.Value) > 256:
			return apiErr(code, "1 validation error detected: Value at 'tags.value' failed to satisfy constraint: Member must have length less than or equal to 256")
		case !tagPattern.MatchString(t.Key) || !tagPattern.MatchString(t.Value):
			return apiErr(code, "1 validation error detected: Value '%s' at 'tags.key' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", t.Key)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return apiErr(code, "Tag keys beginning with aws: are reserved for AWS use: %s", t.Key)
		case seen[t.Key]:
			return apiErr(code, "Duplicate tag key: %s", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// queryer is a database or a transaction of one.
type queryer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// tagsOf reads a resource's tags, by key.
func (s *Store) tagsOf(ctx context.Context, q queryer, kind, name string) ([]Tag, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag_key, tag_value FROM params_tags WHERE kind = ? AND name = ? ORDER BY tag_key`, kind, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tags := []Tag{}
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
	return tags, rows.Err()
}

// allTags reads every tag of one kind, by resource name.
func (s *Store) allTags(ctx context.Context, kind string) (map[string][]Tag, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, tag_key, tag_value FROM params_tags WHERE kind = ? ORDER BY name, tag_key`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]Tag{}
	for rows.Next() {
		var name string
		var t Tag
		if err := rows.Scan(&name, &t.Key, &t.Value); err != nil {
			return nil, err
		}
		out[name] = append(out[name], t)
	}
	return out, rows.Err()
}

// addTags sets tags on a resource (replacing the values of keys it has),
// refusing to go past maxTags with tooMany's error code.
func (s *Store) addTags(ctx context.Context, tx queryer, kind, name string, tags []Tag, tooMany error) error {
	have, err := s.tagsOf(ctx, tx, kind, name)
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for _, t := range have {
		keys[t.Key] = true
	}
	for _, t := range tags {
		keys[t.Key] = true
	}
	if len(keys) > maxTags {
		return tooMany
	}
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO params_tags (kind, name, tag_key, tag_value) VALUES (?, ?, ?, ?)
			ON CONFLICT (kind, name, tag_key) DO UPDATE SET tag_value = excluded.tag_value`, kind, name, t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

// removeTags drops tags by key; keys the resource lacks are ignored, as
// both services ignore them.
func (s *Store) removeTags(ctx context.Context, tx queryer, kind, name string, keys []string) error {
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM params_tags WHERE kind = ? AND name = ? AND tag_key = ?`, kind, name, k); err != nil {
			return err
		}
	}
	return nil
}
