// Package config holds jetway's project configuration and the references
// that run variables may use instead of values.
package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Store names where a reference points.
type Store string

const (
	ParameterStore Store = "ssm"
	SecretsManager Store = "secretsmanager"
)

// Ref is a run variable's value that names a secret instead of holding it:
// SSM:/dev/KEY, PARAMETER_STORE:/dev/KEY, SECRET:name, SECRETS_MANAGER:name
// (prefixes in any case). For Secrets Manager, SECRET:name:key picks one
// key of a JSON secret.
type Ref struct {
	Store Store
	Name  string
	// JSONKey is the key within a JSON secret, or "".
	JSONKey string
}

func (r Ref) String() string {
	prefix := "SSM:"
	if r.Store == SecretsManager {
		prefix = "SECRET:"
	}
	if r.JSONKey != "" {
		return prefix + r.Name + ":" + r.JSONKey
	}
	return prefix + r.Name
}

var prefixes = map[string]Store{
	"ssm":             ParameterStore,
	"parameter_store": ParameterStore,
	"secret":          SecretsManager,
	"secrets_manager": SecretsManager,
}

// ParseRef tells whether value is a reference and parses it. Values whose
// text before the first colon is not one of the prefixes (ssh://host,
// tcp://..., a:b) are plain values: ok is false and err nil. A reference
// with a bad name gives an error that quotes it.
func ParseRef(value string) (ref Ref, ok bool, err error) {
	prefix, rest, found := strings.Cut(value, ":")
	if !found {
		return Ref{}, false, nil
	}
	store, known := prefixes[strings.ToLower(prefix)]
	if !known {
		return Ref{}, false, nil
	}
	ref = Ref{Store: store, Name: rest}
	if store == SecretsManager {
		// Secret names cannot hold ':', so a second one separates a JSON key.
		if name, key, hasKey := strings.Cut(rest, ":"); hasKey && !strings.HasPrefix(rest, "arn:") {
			ref.Name, ref.JSONKey = name, key
			if key == "" {
				return Ref{}, true, fmt.Errorf("reference %q: empty JSON key after %q", value, name+":")
			}
		}
		err = ValidateSecretName(ref.Name)
	} else {
		err = ValidateParameterName(ref.Name)
	}
	if err != nil {
		return Ref{}, true, fmt.Errorf("reference %q: %w", value, err)
	}
	return ref, true, nil
}

var (
	parameterNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)
	secretNameRE    = regexp.MustCompile(`^[a-zA-Z0-9/_+=.@\-]+$`)
)

// ValidateParameterName applies AWS Parameter Store's naming rules.
func ValidateParameterName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty parameter name")
	case len(name) > 1011:
		return fmt.Errorf("parameter name %q is longer than 1011 characters", name[:40]+"…")
	case !parameterNameRE.MatchString(name):
		return fmt.Errorf("parameter name %q may only hold letters, digits and . - _ /", name)
	case strings.Contains(name, "/") && !strings.HasPrefix(name, "/"):
		return fmt.Errorf("parameter name %q: a hierarchical name must begin with /", name)
	case strings.HasSuffix(name, "/") || strings.Contains(name, "//"):
		return fmt.Errorf("parameter name %q has an empty path segment", name)
	case strings.Count(name, "/") > 15:
		return fmt.Errorf("parameter name %q has more than 15 levels", name)
	}
	lower := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
		return fmt.Errorf("parameter name %q: names beginning with aws or ssm are reserved", name)
	}
	return nil
}

// ValidateSecretName applies AWS Secrets Manager's naming rules (names, not
// ARNs, which are accepted as they are).
func ValidateSecretName(name string) error {
	switch {
	case strings.HasPrefix(name, "arn:"):
		return nil
	case name == "":
		return fmt.Errorf("empty secret name")
	case len(name) > 512:
		return fmt.Errorf("secret name %q is longer than 512 characters", name[:40]+"…")
	case !secretNameRE.MatchString(name):
		return fmt.Errorf("secret name %q may only hold letters, digits and / _ + = . @ -", name)
	}
	return nil
}

var envPlaceholder = regexp.MustCompile(`[#$]\{ssm_env\}`)

// ExpandEnv replaces #{ssm_env} and ${ssm_env} with env. Other #{...}
// placeholders are left as they are.
func ExpandEnv(value, env string) string {
	return envPlaceholder.ReplaceAllLiteralString(value, env)
}
