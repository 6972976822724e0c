package config

import (
	"strings"
	"testing"
)

func TestParseIDTokens(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte("project: hello\nid_tokens:\n  AWS_WEB_IDENTITY: {aud: sts.amazonaws.com}\n  VAULT_JWT:\n    aud: \"https://vault.example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []IDToken{{Name: "AWS_WEB_IDENTITY", Audience: "sts.amazonaws.com", Line: 3}, {Name: "VAULT_JWT", Audience: "https://vault.example.com", Line: 4}}
	if len(p.IDTokens) != len(want) || p.IDTokens[0] != want[0] || p.IDTokens[1] != want[1] {
		t.Fatalf("got %+v", p.IDTokens)
	}
	if p, err := Parse("jetway.yaml", []byte("project: hello\n")); err != nil || p.IDTokens != nil {
		t.Fatalf("without id_tokens: %+v %v", p.IDTokens, err)
	}
}

func TestParseIDTokensErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		vars       map[string]string
		want       string
	}{
		{name: "a list", yaml: "id_tokens: [A]\n", want: "jetway.yaml:2: id_tokens must be a mapping of NAME: {aud: AUDIENCE}"},
		{name: "a bad name", yaml: "id_tokens: {1TOKEN: {aud: x}}\n", want: `jetway.yaml:2: id_tokens: "1TOKEN" is not a variable name`},
		{name: "a name jetway uses", yaml: "id_tokens:\n  JETWAY_TOKEN: {aud: x}\n", want: "jetway.yaml:3: id_tokens.JETWAY_TOKEN: jetway or the phases' shell use this variable already"},
		{name: "the Docker host", yaml: "id_tokens: {DOCKER_HOST: {aud: x}}\n", want: "id_tokens.DOCKER_HOST: jetway or the phases' shell use"},
		{name: "PATH", yaml: "id_tokens: {PATH: {aud: x}}\n", want: "id_tokens.PATH: jetway or the phases' shell use"},
		{name: "a variable of the file", yaml: "env:\n  vars: {TOK: x}\nid_tokens:\n  TOK: {aud: x}\n", want: "jetway.yaml:5: id_tokens.TOK: TOK is a variable of the run already (env.vars.TOK)"},
		{name: "a variable given for the run", yaml: "id_tokens:\n  TOK: {aud: x}\n", vars: map[string]string{"TOK": "y"}, want: "jetway.yaml:3: id_tokens.TOK: TOK is a variable of the run already (-e TOK)"},
		{name: "no mapping", yaml: "id_tokens:\n  TOK: sts.amazonaws.com\n", want: "jetway.yaml:3: id_tokens.TOK must be a mapping with the token's audience"},
		{name: "no aud", yaml: "id_tokens:\n  TOK: {}\n", want: "jetway.yaml:3: id_tokens.TOK: aud is missing"},
		{name: "an unknown key", yaml: "id_tokens:\n  TOK:\n    aud: x\n    ttl: 5m\n", want: `jetway.yaml:5: id_tokens.TOK: unknown key "ttl" (known here: aud)`},
		{name: "a number", yaml: "id_tokens:\n  TOK: {aud: 12}\n", want: "jetway.yaml:3: id_tokens.TOK.aud must be a string"},
		{name: "a list of audiences", yaml: "id_tokens:\n  TOK: {aud: [a, b]}\n", want: "jetway.yaml:3: id_tokens.TOK.aud must be a string"},
		{name: "empty", yaml: "id_tokens:\n  TOK: {aud: \"\"}\n", want: "jetway.yaml:3: id_tokens.TOK.aud is empty"},
		{name: "two lines", yaml: "id_tokens:\n  TOK: {aud: \"a\\nb\"}\n", want: "id_tokens.TOK.aud: an audience is one line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWithVars("jetway.yaml", []byte("project: hello\n"+tc.yaml), tc.vars)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
