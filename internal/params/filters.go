package params

import (
	"context"
	"regexp"
	"slices"
	"strings"
)

// ParameterFilter is one of SSM's ParameterFilters (DescribeParameters,
// GetParametersByPath): a key (Name, Path, Type, KeyId, Tier, DataType,
// Label, tag:KEY), an option and the values any of which may match. A
// parameter is listed when it matches every filter.
type ParameterFilter struct {
	Key    string
	Option string
	Values []string
}

var filterKeyPattern = regexp.MustCompile(`^(tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType)$`)

// Which keys each operation takes, and their options (the first is the
// default).
var (
	describeFilters = map[string][]string{
		"Name": {"Equals", "BeginsWith", "Contains"}, "Path": {"OneLevel", "Recursive"},
		"Type": {"Equals"}, "KeyId": {"Equals"}, "Tier": {"Equals"}, "DataType": {"Equals"}, "tag:": {"Equals"},
	}
	byPathFilters = map[string][]string{"Type": {"Equals"}, "KeyId": {"Equals"}, "Label": {"Equals"}}
)

// validateFilters applies SSM's rules for ParameterFilters, answering with
// its error codes.
func validateFilters(filters []ParameterFilter, allowed map[string][]string) error {
	for i := range filters {
		f := &filters[i]
		if len(f.Key) > 132 || !filterKeyPattern.MatchString(f.Key) {
			return apiErr("ValidationException", "1 validation error detected: Value '%s' at 'parameterFilters.%d.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType", f.Key, i+1)
		}
		key := f.Key
		if strings.HasPrefix(key, "tag:") {
			key = "tag:"
		}
		options, ok := allowed[key]
		if !ok {
			var keys []string
			for k := range allowed {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return apiErr("InvalidFilterKey", "The following filter key is not valid: %s. Valid filter keys include: [%s].", f.Key, strings.Join(keys, ", "))
		}
		if f.Option == "" {
			f.Option = options[0]
		}
		if !slices.Contains(options, f.Option) {
			return apiErr("InvalidFilterOption", "The following filter option is not valid: %s. Valid options include: [%s].", f.Option, strings.Join(options, ", "))
		}
		if len(f.Values) > 50 {
			return apiErr("ValidationException", "1 validation error detected: Value at 'parameterFilters.%d.member.values' failed to satisfy constraint: Member must have length less than or equal to 50", i+1)
		}
		if len(f.Values) == 0 && key != "tag:" {
			return apiErr("InvalidFilterValue", "The following filter values are missing : null for filter key %s.", f.Key)
		}
		for _, v := range f.Values {
			if v == "" || len(v) > 1024 {
				return apiErr("InvalidFilterValue", "The following filter value is not valid: %q. Values must have between 1 and 1024 characters.", v)
			}
			var bad bool
			switch key {
			case "Path":
				bad = !strings.HasPrefix(v, "/")
			case "Type":
				bad = v != TypeString && v != TypeStringList && v != TypeSecureString
			case "Tier":
				bad = v != TierStandard && v != TierAdvanced && v != TierIntelligent
			case "DataType":
				bad = v != "text" && v != "aws:ec2:image" && v != "aws:ssm:integration"
			}
			if bad {
				return apiErr("InvalidFilterValue", "The following filter value is not valid: %s for filter key %s.", v, f.Key)
			}
		}
	}
	return nil
}

// LegacyFilter is one of DescribeParameters' older Filters: Name (names
// beginning with a value), Type or KeyId.
type LegacyFilter struct {
	Key    string
	Values []string
}

// legacyToParameterFilters validates Filters and turns them into
// ParameterFilters.
func legacyToParameterFilters(filters []LegacyFilter) ([]ParameterFilter, error) {
	var out []ParameterFilter
	for i, f := range filters {
		switch f.Key {
		case "Name", "Type", "KeyId":
		default:
			return nil, apiErr("ValidationException", "1 validation error detected: Value '%s' at 'filters.%d.member.key' failed to satisfy constraint: Member must satisfy enum value set: [Type, KeyId, Name]", f.Key, i+1)
		}
		if len(f.Values) == 0 || len(f.Values) > 50 {
			return nil, apiErr("ValidationException", "1 validation error detected: Value at 'filters.%d.member.values' failed to satisfy constraint: Member must have length less than or equal to 50 and greater than or equal to 1", i+1)
		}
		option := "Equals"
		if f.Key == "Name" {
			option = "BeginsWith"
		}
		out = append(out, ParameterFilter{Key: f.Key, Option: option, Values: f.Values})
	}
	return out, nil
}

// applyFilters keeps the parameters that match every filter. A Label
// filter (GetParametersByPath) replaces each parameter with its version
// that holds one of the labels.
func (s *Store) applyFilters(ctx context.Context, all []Parameter, filters []ParameterFilter, decrypt bool) ([]Parameter, error) {
	if len(filters) == 0 {
		return all, nil
	}
	var tags map[string][]Tag
	for _, f := range filters {
		if strings.HasPrefix(f.Key, "tag:") && tags == nil {
			var err error
			if tags, err = s.allTags(ctx, kindParameter); err != nil {
				return nil, err
			}
		}
	}
	var out []Parameter
next:
	for _, p := range all {
		for _, f := range filters {
			if f.Key == "Label" {
				labelled, ok, err := s.labelled(ctx, p.Name, f.Values, decrypt)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue next
				}
				p = labelled
				continue
			}
			if !matches(p, tags[p.Name], f) {
				continue next
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// labelled reads the version of name that holds one of labels.
func (s *Store) labelled(ctx context.Context, name string, labels []string, decrypt bool) (Parameter, bool, error) {
	for _, l := range labels {
		p, err := s.GetParameter(ctx, name+":"+l, decrypt)
		if err == nil {
			p.Selector = ""
			return p, true, nil
		}
		if _, ok := err.(*APIError); !ok {
			return Parameter{}, false, err
		}
	}
	return Parameter{}, false, nil
}

func matches(p Parameter, tags []Tag, f ParameterFilter) bool {
	if tagKey, ok := strings.CutPrefix(f.Key, "tag:"); ok {
		for _, t := range tags {
			if t.Key == tagKey {
				return len(f.Values) == 0 || slices.Contains(f.Values, t.Value)
			}
		}
		return false
	}
	for _, v := range f.Values {
		var ok bool
		switch f.Key {
		case "Name":
			name, want := canonicalName(p.Name), canonicalName(v)
			switch f.Option {
			case "BeginsWith":
				ok = strings.HasPrefix(name, want) || strings.HasPrefix(p.Name, v)
			case "Contains":
				ok = strings.Contains(p.Name, v)
			default:
				ok = name == want
			}
		case "Path":
			ok = below(p.Name, v, f.Option == "Recursive")
		case "Type":
			ok = p.Type == v
		case "KeyId":
			ok = keyID(p.Type) == v
		case "Tier":
			ok = p.Tier == v
		case "DataType":
			ok = p.DataType == v
		}
		if ok {
			return true
		}
	}
	return false
}
