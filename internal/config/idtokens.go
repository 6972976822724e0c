package config

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// IDToken is one entry of id_tokens: the run gets, in variable Name, a
// JWT the server signs for Audience (see package oidc). Its value is
// masked in the log like any secret.
type IDToken struct {
	Name     string
	Audience string
	Line     int
}

// MaxIDTokens bounds the entries of id_tokens.
const MaxIDTokens = 20

// idTokenReserved are the names no id token may take, matched against the
// upper-cased name: those that steer jetway and the tools that hold the
// run's credentials, the Docker host's variables the runner reads, and
// what the phases' shell needs as it is.
var idTokenReserved = append(slices.Clip(steering), "DOCKER_*", "JETS_*", "PATH", "HOME", "USER", "SHELL", "TMPDIR", "LANG", "TZ")

// parseIDTokens reads id_tokens: {NAME: {aud: AUDIENCE}, …}, after the
// variables (a token's name must not be one of them, in the file or given
// for the run).
func (p *Project) parseIDTokens(path string, node *yaml.Node) error {
	if node.Kind == 0 || node.Tag == "!!null" {
		return nil
	}
	bad := func(n *yaml.Node, format string, args ...any) error {
		return &ConfigError{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
	}
	if node.Kind != yaml.MappingNode {
		return bad(node, "id_tokens must be a mapping of NAME: {aud: AUDIENCE}, e.g. id_tokens: {AWS_WEB_IDENTITY_TOKEN: {aud: sts.amazonaws.com}}")
	}
	if len(node.Content)/2 > MaxIDTokens {
		return bad(node, "id_tokens: %d tokens; at most %d are allowed", len(node.Content)/2, MaxIDTokens)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		name := k.Value
		switch {
		case !envNameRE.MatchString(name) || len(name) > 256:
			return bad(k, "id_tokens: %q is not a variable name (letters, digits and _, not starting with a digit)", name)
		case matchAnyGlob(idTokenReserved, name):
			return bad(k, "id_tokens.%s: jetway or the phases' shell use this variable already; name the token otherwise, e.g. %s_ID_TOKEN", name, strings.TrimSuffix(name, "_"))
		case slices.ContainsFunc(p.IDTokens, func(t IDToken) bool { return t.Name == name }):
			return bad(k, "id_tokens: %s is set twice", name)
		}
		if i := slices.IndexFunc(p.Vars, func(v Var) bool { return v.Name == name }); i >= 0 {
			return bad(k, "id_tokens.%s: %s is a variable of the run already (%s); a token needs a name of its own", name, name, p.Vars[i].key())
		}
		if v.Kind != yaml.MappingNode {
			return bad(v, "id_tokens.%s must be a mapping with the token's audience, e.g. {aud: sts.amazonaws.com}", name)
		}
		var aud *yaml.Node
		for j := 0; j+1 < len(v.Content); j += 2 {
			switch key := v.Content[j]; key.Value {
			case "aud":
				aud = v.Content[j+1]
			default:
				return bad(key, "id_tokens.%s: unknown key %q (known here: aud)", name, key.Value)
			}
		}
		switch {
		case aud == nil:
			return bad(v, "id_tokens.%s: aud is missing; write the audience the token is for, e.g. {aud: sts.amazonaws.com} for AWS IAM", name)
		case aud.Kind != yaml.ScalarNode || aud.Tag != "!!str":
			return bad(aud, "id_tokens.%s.aud must be a string, e.g. sts.amazonaws.com", name)
		case strings.TrimSpace(aud.Value) == "":
			return bad(aud, "id_tokens.%s.aud is empty; write the audience the token is for, e.g. sts.amazonaws.com", name)
		case len(aud.Value) > 1024 || strings.IndexFunc(aud.Value, unicode.IsControl) >= 0:
			return bad(aud, "id_tokens.%s.aud: an audience is one line of at most 1024 characters", name)
		}
		p.IDTokens = append(p.IDTokens, IDToken{Name: name, Audience: aud.Value, Line: k.Line})
	}
	return nil
}
