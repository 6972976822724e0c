package params

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

// PutInput is a PutParameter request.
type PutInput struct {
	Name, Type, Value, Description, User string
	Overwrite                            bool
	// Tier, DataType and AllowedPattern are SSM's; empty keeps the
	// parameter's (Standard, text and none for a new one).
	Tier, DataType, AllowedPattern string
	// Tags are set on a new parameter; SSM refuses them with Overwrite.
	Tags []Tag
}

// PutParameter stores a new version and returns its number.
func (s *Store) PutParameter(ctx context.Context, in PutInput) (int64, error) {
	v, _, err := s.putParameter(ctx, in)
	return v, err
}

var amiID = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)

// putParameter stores a new version and returns its number and tier.
func (s *Store) putParameter(ctx context.Context, in PutInput) (int64, string, error) {
	if err := config.ValidateParameterName(in.Name); err != nil {
		return 0, "", apiErr("ValidationException", "%v", err)
	}
	if in.Value == "" {
		return 0, "", apiErr("ValidationException", "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.Value) > maxAdvancedValue {
		return 0, "", apiErr("ValidationException", "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to %d", maxAdvancedValue)
	}
	switch in.Tier {
	case "", TierStandard, TierAdvanced, TierIntelligent:
	default:
		return 0, "", apiErr("ValidationException", "1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]", in.Tier)
	}
	switch in.DataType {
	case "", "text", "aws:ec2:image":
	default:
		return 0, "", apiErr("ValidationException", "The following data type is not supported: %s (Data type names are all lowercase.)", in.DataType)
	}
	if len(in.Tags) > 0 && in.Overwrite {
		return 0, "", apiErr("ValidationException", "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	if err := validateTags(in.Tags, "ValidationException"); err != nil {
		return 0, "", err
	}
	if len(in.Tags) > maxTags {
		return 0, "", apiErr("TooManyTagsError", "The Parameter has too many tags. The limit is %d.", maxTags)
	}
	if len(in.AllowedPattern) > 1024 {
		return 0, "", apiErr("ValidationException", "1 validation error detected: Value at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	var version int64
	var tier string
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		in := in // a retry starts from the request again
		if err := s.lockName(ctx, tx, in.Name); err != nil {
			return err
		}
		stored, err := storedName(ctx, tx, in.Name)
		if err != nil {
			return err
		}
		var cur Parameter
		var count int64
		err = tx.QueryRowContext(ctx, `SELECT version, type, description, tier, data_type, allowed_pattern FROM param_versions WHERE name = ? ORDER BY version DESC LIMIT 1`, stored).
			Scan(&cur.Version, &cur.Type, &cur.Description, &cur.Tier, &cur.DataType, &cur.AllowedPattern)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if in.Type == "" {
				return apiErr("ValidationException", "A parameter type is required when you create a parameter.")
			}
			cur.Tier, cur.DataType = TierStandard, "text"
		case err != nil:
			return err
		case !in.Overwrite:
			return apiErr("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		in.Name = stored
		if in.Type == "" {
			in.Type = cur.Type
		}
		if in.Description == "" {
			in.Description = cur.Description
		}
		if in.DataType == "" {
			in.DataType = cur.DataType
		}
		if in.AllowedPattern == "" {
			in.AllowedPattern = cur.AllowedPattern
		}
		switch in.Type {
		case TypeString, TypeStringList, TypeSecureString:
		default:
			return apiErr("ValidationException", "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
		}
		if tier, err = chooseTier(in.Tier, cur.Tier, len(in.Value)); err != nil {
			return err
		}
		if in.DataType == "aws:ec2:image" {
			if in.Type != TypeString {
				return apiErr("ValidationException", "The aws:ec2:image data type is only supported for parameters of type String.")
			}
			if !amiID.MatchString(in.Value) {
				return apiErr("ValidationException", "Parameter value, %s, is not a valid AMI ID: the aws:ec2:image data type takes ami- and 8 or 17 hexadecimal digits.", in.Value)
			}
		}
		if in.AllowedPattern != "" {
			re, err := regexp.Compile("^(?:" + in.AllowedPattern + ")$")
			if err != nil {
				return apiErr("InvalidAllowedPatternException", "The request doesn't meet the regular expression requirement: %v", err)
			}
			if !re.MatchString(in.Value) {
				return apiErr("ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: %s", in.AllowedPattern)
			}
		}
		// SSM keeps 100 versions: the oldest goes, unless a label holds it.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions WHERE name = ?`, in.Name).Scan(&count); err != nil {
			return err
		}
		if count >= maxVersions {
			var oldest int64
			var labels int
			if err := tx.QueryRowContext(ctx, `SELECT MIN(version) FROM param_versions WHERE name = ?`, in.Name).Scan(&oldest); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_labels WHERE name = ? AND version = ?`, in.Name, oldest).Scan(&labels); err != nil {
				return err
			}
			if labels > 0 {
				return apiErr("ParameterMaxVersionLimitExceeded", "You attempted to create a new version of %s by calling the PutParameter API with the overwrite flag. Version %d, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.", in.Name, oldest)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM param_versions WHERE name = ? AND version = ?`, in.Name, oldest); err != nil {
				return err
			}
		}
		stored2 := []byte(in.Value)
		if in.Type == TypeSecureString {
			stored2 = s.sealer.seal(in.Name, stored2)
		}
		version = cur.Version + 1
		if _, err = tx.ExecContext(ctx, `INSERT INTO param_versions (`+paramColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.Name, version, in.Type, stored2, in.Description, s.now().UnixNano(), in.User, tier, in.DataType, in.AllowedPattern); err != nil {
			return err
		}
		if version == 1 {
			// A parameter made again after a delete starts without the old one's tags.
			if _, err := tx.ExecContext(ctx, `DELETE FROM params_tags WHERE kind = ? AND name = ?`, kindParameter, in.Name); err != nil {
				return err
			}
		}
		return s.addTags(ctx, tx, kindParameter, in.Name, in.Tags, apiErr("TooManyTagsError", "The Parameter has too many tags. The limit is %d.", maxTags))
	})
	return version, tier, err
}

// chooseTier is the tier a new version is stored in: the one asked for
// (Intelligent-Tiering: Standard while the value fits), else the
// parameter's; never down from Advanced, as SSM refuses that.
func chooseTier(asked, current string, size int) (string, error) {
	tier := asked
	switch {
	case asked == "":
		tier = current
	case asked == TierIntelligent && current == TierAdvanced:
		tier = TierAdvanced
	case asked == TierIntelligent && size > maxStandardValue:
		tier = TierAdvanced
	case asked == TierIntelligent:
		tier = TierStandard
	case asked == TierStandard && current == TierAdvanced:
		return "", apiErr("ValidationException", "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
	}
	if tier == TierStandard && size > maxStandardValue {
		return "", apiErr("ValidationException", "Standard tier parameters support a maximum parameter value of %d characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html", maxStandardValue)
	}
	return tier, nil
}

// lockName makes PostgreSQL replicas writing one parameter take turns:
// each makes the next version, rather than retrying on each other's.
func (s *Store) lockName(ctx context.Context, tx *sqldb.Tx, name string) error {
	if s.db.Dialect != sqldb.Postgres {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte("jetway parameter " + canonicalName(name)))
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(h.Sum64()))
	return err
}

// canonicalName is the one spelling of a parameter's name that SSM's
// equal spellings share: a name of one level is the same with or without
// its leading slash ("/x" is "x", as their one ARN …:parameter/x says).
func canonicalName(name string) string {
	if rest, ok := strings.CutPrefix(name, "/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return name
}

// spellings are the names a parameter named name may be stored under.
func spellings(name string) []any {
	c := canonicalName(name)
	if strings.Contains(c, "/") {
		return []any{c}
	}
	return []any{c, "/" + c}
}

// storedName is the name a parameter named name is stored under, or name
// if there is none.
func storedName(ctx context.Context, q queryer, name string) (string, error) {
	sp := spellings(name)
	var stored string
	err := q.QueryRowContext(ctx, `SELECT name FROM param_versions WHERE name IN (?`+strings.Repeat(", ?", len(sp)-1)+`) ORDER BY version DESC LIMIT 1`, sp...).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return name, nil
	}
	return stored, err
}

// ParseParameterRef splits what a request names a parameter by (its name
// or its ARN, with an optional ":version" or ":label") into the name and
// the selector.
func ParseParameterRef(ref string) (name, selector string, err error) {
	rest := ref
	if strings.HasPrefix(ref, "arn:") {
		_, after, ok := strings.Cut(ref, ":parameter/")
		if !ok || !strings.HasPrefix(ref, "arn:aws") || strings.Count(ref[:len(ref)-len(after)], ":") != 5 {
			return "", "", apiErr("ValidationException", "Parameter ARN %s is not valid: want arn:aws:ssm:REGION:ACCOUNT:parameter/NAME", ref)
		}
		rest = after
		if n, _, _ := strings.Cut(after, ":"); strings.Contains(n, "/") {
			rest = "/" + after
		}
	}
	name, selector, _ = strings.Cut(rest, ":")
	return name, selector, nil
}

var labelPattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,100}$`)

// validLabel applies SSM's rules for version labels.
func validLabel(l string) bool {
	lower := strings.ToLower(l)
	return labelPattern.MatchString(l) && !(l[0] >= '0' && l[0] <= '9') && !strings.HasPrefix(lower, "aws") && !strings.HasPrefix(lower, "ssm")
}

const paramColumns = `name, version, type, value, description, modified_at, modified_by, tier, data_type, allowed_pattern`

func (s *Store) scanParameter(row interface{ Scan(...any) error }, decrypt bool) (Parameter, error) {
	var p Parameter
	var value []byte
	var modified int64
	if err := row.Scan(&p.Name, &p.Version, &p.Type, &value, &p.Description, &modified, &p.ModifiedBy, &p.Tier, &p.DataType, &p.AllowedPattern); err != nil {
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

// GetParameter reads the newest version of a parameter, named by its name
// or ARN, or the version named as "name:3" or "name:label".
func (s *Store) GetParameter(ctx context.Context, ref string, decrypt bool) (Parameter, error) {
	name, sel, err := ParseParameterRef(ref)
	if err != nil {
		return Parameter{}, err
	}
	if strings.HasPrefix(name, secretReferencePrefix) {
		return s.secretAsParameter(ctx, strings.TrimPrefix(name, secretReferencePrefix), sel, decrypt)
	}
	stored, err := storedName(ctx, s.db, name)
	if err != nil {
		return Parameter{}, err
	}
	q := `SELECT ` + paramColumns + ` FROM param_versions WHERE name = ? ORDER BY version DESC LIMIT 1`
	args := []any{stored}
	if sel != "" {
		version, err := strconv.ParseInt(sel, 10, 64)
		switch {
		case err == nil && version < 1:
			return Parameter{}, apiErr("ValidationException", "Invalid parameter version or label %q in %q", sel, ref)
		case err == nil:
			q = `SELECT ` + paramColumns + ` FROM param_versions WHERE name = ? AND version = ?`
		case !validLabel(sel):
			return Parameter{}, apiErr("ValidationException", "Invalid parameter version or label %q in %q", sel, ref)
		default:
			q = `SELECT ` + paramColumns + ` FROM param_versions WHERE name = ? AND version = (SELECT version FROM param_labels WHERE name = ? AND label = ?)`
			args = append(args, stored)
		}
		args = append(args, sel)
	}
	p, err := s.scanParameter(s.db.QueryRowContext(ctx, q, args...), decrypt)
	if errors.Is(err, sql.ErrNoRows) {
		if sel != "" && s.exists(ctx, stored) {
			return p, apiErr("ParameterVersionNotFound", "Systems Manager could not find version %s of %s. Verify the version and try again.", sel, name)
		}
		return p, apiErr("ParameterNotFound", "Parameter %s not found.", name)
	}
	if err != nil {
		return p, err
	}
	if sel != "" {
		p.Selector = ":" + sel
	}
	return p, nil
}

func (s *Store) exists(ctx context.Context, name string) bool {
	var n int
	_ = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions WHERE name = ?`, name).Scan(&n)
	return n > 0
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
		if errors.As(err, &apiError) && (apiError.Code == "ParameterNotFound" || apiError.Code == "ParameterVersionNotFound" || apiError.Code == "ResourceNotFoundException") {
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

// below tells whether name is below path: a direct child, or with
// recursive any descendant.
func below(name, path string, recursive bool) bool {
	prefix := strings.TrimSuffix(path, "/") + "/"
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	return recursive || !strings.Contains(name[len(prefix):], "/")
}

func validPath(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return apiErr("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
	case strings.Count(path, "/") > 15:
		return apiErr("ValidationException", "The parameter path %s has more than 15 levels of hierarchy.", path)
	case strings.HasPrefix(path, "/aws/reference"):
		return apiErr("ValidationException", "GetParametersByPath does not read /aws/reference paths: read each secret with GetParameter.")
	}
	return nil
}

// GetParametersByPath lists the parameters below path: its direct children,
// or with recursive every descendant.
func (s *Store) GetParametersByPath(ctx context.Context, path string, recursive, decrypt bool, maxResults int, token string) ([]Parameter, string, error) {
	return s.getParametersByPath(ctx, path, recursive, decrypt, nil, maxResults, token)
}

func (s *Store) getParametersByPath(ctx context.Context, path string, recursive, decrypt bool, filters []ParameterFilter, maxResults int, token string) ([]Parameter, string, error) {
	if err := validPath(path); err != nil {
		return nil, "", err
	}
	if err := validateFilters(filters, byPathFilters); err != nil {
		return nil, "", err
	}
	all, err := s.latest(ctx, decrypt, func(name string) bool { return below(name, path, recursive) })
	if err != nil {
		return nil, "", err
	}
	if all, err = s.applyFilters(ctx, all, filters, decrypt); err != nil {
		return nil, "", err
	}
	return page(all, token, maxResults, 10)
}

// DescribeParameters lists every parameter's metadata, with its tags.
func (s *Store) DescribeParameters(ctx context.Context, maxResults int, token string) ([]Parameter, string, error) {
	return s.describeParameters(ctx, nil, maxResults, token)
}

func (s *Store) describeParameters(ctx context.Context, filters []ParameterFilter, maxResults int, token string) ([]Parameter, string, error) {
	if err := validateFilters(filters, describeFilters); err != nil {
		return nil, "", err
	}
	all, err := s.latest(ctx, false, nil)
	if err != nil {
		return nil, "", err
	}
	tags, err := s.allTags(ctx, kindParameter)
	if err != nil {
		return nil, "", err
	}
	for i := range all {
		all[i].Value = ""
		all[i].Tags = tags[all[i].Name]
	}
	if all, err = s.applyFilters(ctx, all, filters, false); err != nil {
		return nil, "", err
	}
	return page(all, token, maxResults, 50)
}

// GetParameterHistory lists every version of a parameter, oldest first,
// with its labels.
func (s *Store) GetParameterHistory(ctx context.Context, ref string, decrypt bool, maxResults int, token string) ([]Parameter, string, error) {
	name, _, err := ParseParameterRef(ref)
	if err != nil {
		return nil, "", err
	}
	stored, err := storedName(ctx, s.db, name)
	if err != nil {
		return nil, "", err
	}
	labels, err := s.labels(ctx, stored)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+paramColumns+` FROM param_versions WHERE name = ? ORDER BY version`, stored)
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
		p.Labels = labels[p.Version]
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

// labels reads a parameter's labels, by version.
func (s *Store) labels(ctx context.Context, name string) (map[int64][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version, label FROM param_labels WHERE name = ? ORDER BY label`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]string{}
	for rows.Next() {
		var v int64
		var l string
		if err := rows.Scan(&v, &l); err != nil {
			return nil, err
		}
		out[v] = append(out[v], l)
	}
	return out, rows.Err()
}

// DeleteParameter removes a parameter, its history, labels and tags.
func (s *Store) DeleteParameter(ctx context.Context, ref string) error {
	name, _, err := ParseParameterRef(ref)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		stored, err := storedName(ctx, tx, name)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM param_versions WHERE name = ?`, stored)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apiErr("ParameterNotFound", "Parameter %s not found.", name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM param_labels WHERE name = ?`, stored); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM params_tags WHERE kind = ? AND name = ?`, kindParameter, stored)
		return err
	})
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

// errNoResource is SSM's answer for tags on a parameter that is not there.
func errNoResource() *APIError {
	return apiErr("InvalidResourceId", "The resource ID is not valid. Verify the ID and try again.")
}

// ParameterTags reads a parameter's tags.
func (s *Store) ParameterTags(ctx context.Context, ref string) ([]Tag, error) {
	name, _, err := ParseParameterRef(ref)
	if err != nil {
		return nil, err
	}
	stored, err := storedName(ctx, s.db, name)
	if err != nil {
		return nil, err
	}
	if !s.exists(ctx, stored) {
		return nil, errNoResource()
	}
	return s.tagsOf(ctx, s.db, kindParameter, stored)
}

// TagParameter adds tags to a parameter and removes the keys in remove.
func (s *Store) TagParameter(ctx context.Context, ref string, add []Tag, remove []string) (string, error) {
	name, _, err := ParseParameterRef(ref)
	if err != nil {
		return "", err
	}
	if err := validateTags(add, "ValidationException"); err != nil {
		return "", err
	}
	var stored string
	err = s.inTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.lockName(ctx, tx, name); err != nil {
			return err
		}
		if stored, err = storedName(ctx, tx, name); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions WHERE name = ?`, stored).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errNoResource()
		}
		if err := s.removeTags(ctx, tx, kindParameter, stored, remove); err != nil {
			return err
		}
		return s.addTags(ctx, tx, kindParameter, stored, add, apiErr("TooManyTagsError", "The Parameter has too many tags. The limit is %d.", maxTags))
	})
	return stored, err
}

// LabelParameterVersion moves labels onto a version of a parameter (the
// newest if version is 0). Labels that break SSM's rules are returned as
// invalid and not attached.
func (s *Store) LabelParameterVersion(ctx context.Context, ref string, version int64, labels []string) (int64, []string, string, error) {
	name, _, err := ParseParameterRef(ref)
	if err != nil {
		return 0, nil, "", err
	}
	if len(labels) == 0 || len(labels) > 10 {
		return 0, nil, "", apiErr("ValidationException", "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	invalid := []string{}
	var stored string
	err = s.inTx(ctx, func(tx *sqldb.Tx) error {
		invalid = invalid[:0]
		if err := s.lockName(ctx, tx, name); err != nil {
			return err
		}
		if stored, err = storedName(ctx, tx, name); err != nil {
			return err
		}
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM param_versions WHERE name = ?`, stored).Scan(&latest); err != nil {
			return err
		}
		if !latest.Valid {
			return apiErr("ParameterNotFound", "Parameter %s not found.", name)
		}
		if version == 0 {
			version = latest.Int64
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions WHERE name = ? AND version = ?`, stored, version).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return apiErr("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", version, name)
		}
		var valid []string
		for _, l := range labels {
			if validLabel(l) {
				valid = append(valid, l)
			} else {
				invalid = append(invalid, l)
			}
		}
		for _, l := range valid {
			if _, err := tx.ExecContext(ctx, `DELETE FROM param_labels WHERE name = ? AND label = ?`, stored, l); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO param_labels (name, label, version) VALUES (?, ?, ?)`, stored, l, version); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_labels WHERE name = ? AND version = ?`, stored, version).Scan(&n); err != nil {
			return err
		}
		if n > 10 {
			return apiErr("ParameterVersionLabelLimitExceeded", "An error occurred when attempting to label parameter version %d of %s: a parameter version can have at most 10 labels.", version, name)
		}
		return nil
	})
	return version, invalid, stored, err
}

// UnlabelParameterVersion removes labels from a version; labels the
// version does not have are returned as invalid.
func (s *Store) UnlabelParameterVersion(ctx context.Context, ref string, version int64, labels []string) (removed, invalid []string, stored string, err error) {
	name, _, err := ParseParameterRef(ref)
	if err != nil {
		return nil, nil, "", err
	}
	if version < 1 {
		return nil, nil, "", apiErr("ValidationException", "1 validation error detected: Value at 'parameterVersion' failed to satisfy constraint: Member must not be null")
	}
	if len(labels) == 0 || len(labels) > 10 {
		return nil, nil, "", apiErr("ValidationException", "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	err = s.inTx(ctx, func(tx *sqldb.Tx) error {
		removed, invalid = []string{}, []string{}
		if err := s.lockName(ctx, tx, name); err != nil {
			return err
		}
		if stored, err = storedName(ctx, tx, name); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions WHERE name = ?`, stored).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return apiErr("ParameterNotFound", "Parameter %s not found.", name)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions WHERE name = ? AND version = ?`, stored, version).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return apiErr("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", version, name)
		}
		for _, l := range labels {
			res, err := tx.ExecContext(ctx, `DELETE FROM param_labels WHERE name = ? AND label = ? AND version = ?`, stored, l, version)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				invalid = append(invalid, l)
			} else {
				removed = append(removed, l)
			}
		}
		return nil
	})
	return removed, invalid, stored, err
}

// secretReferencePrefix names Secrets Manager secrets through SSM.
const secretReferencePrefix = "/aws/reference/secretsmanager/"

// secretAsParameter reads a secret as SSM serves it under
// /aws/reference/secretsmanager/NAME[:version id or staging label].
func (s *Store) secretAsParameter(ctx context.Context, id, sel string, decrypt bool) (Parameter, error) {
	if !decrypt {
		return Parameter{}, apiErr("ValidationException", "WithDecryption flag must be True for retrieving a Secret Manager secret.")
	}
	versionID, stage := "", ""
	if sel != "" {
		if strings.HasPrefix(sel, "AWS") || !uuidLike.MatchString(sel) {
			stage = sel
		} else {
			versionID = sel
		}
	}
	sec, err := s.GetSecretValue(ctx, id, versionID, stage)
	var apiError *APIError
	if errors.As(err, &apiError) && apiError.Code == "ResourceNotFoundException" {
		return Parameter{}, apiErr("ParameterNotFound", "Secret %s not found.", id)
	}
	if err != nil {
		return Parameter{}, err
	}
	desc, err := s.DescribeSecret(ctx, sec.Name)
	if err != nil {
		return Parameter{}, err
	}
	p := Parameter{Name: secretReferencePrefix + id, Type: TypeSecureString, Value: sec.String, Modified: sec.Created, DataType: "text", Tier: TierStandard, ARN: sec.ARN}
	if sec.IsBinary {
		p.Value = base64.StdEncoding.EncodeToString(sec.Binary)
	}
	if sel != "" {
		p.Selector = ":" + sel
	}
	p.SourceResult = fmt.Sprintf(`{"ARN":%q,"Name":%q,"VersionId":%q}`, desc.ARN, desc.Name, sec.VersionID)
	return p, nil
}

var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
