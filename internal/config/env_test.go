package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// deployerEnv is a deployer's environment as a phase must not see most of it.
var deployerEnv = []string{
	"HOME=/home/dev",
	"BUNDLE_PATH=vendor/bundle",
	"BUNDLE_JOBS=4",
	"NPM_CONFIG_REGISTRY=https://npm.internal",
	"JETWAY_TOKEN=jw-admin-token",
	"JETWAY_SERVER=http://jetway:8080",
	"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI",
	"AWS_REGION=eu-west-1",
	"MY_API_TOKEN=tok-123456",
	"github_token=ghp_lowercase",
	"SSH_AUTH_SOCK=/tmp/ssh-agent.sock",
	"DOCKER_CONFIG=/home/dev/.docker",
	"GIT_ASKPASS=/usr/bin/askpass",
	"DB_PASSWORD_FILE=/run/db",
	"SENTRY_SECRET_KEY=sentry-secret",
	"STRIPE_KEY=sk_live_abc",
	"BYPASS_CACHE=1",
	"NOT_A_PAIR",
}

func TestPassEnv(t *testing.T) {
	tests := []struct {
		name        string
		pass, block []string
		want        []string // passed names
		secrets     []string
	}{
		{name: "nothing passed by default", want: nil},
		{
			name: "* passes everything but the built-in block list",
			pass: []string{"*"},
			want: []string{"BUNDLE_JOBS", "BUNDLE_PATH", "BYPASS_CACHE", "HOME", "NPM_CONFIG_REGISTRY", "STRIPE_KEY"}, secrets: []string{"STRIPE_KEY"},
		},
		{
			name: "a regexp passes no more than *",
			pass: []string{"/.*/"},
			want: []string{"BUNDLE_JOBS", "BUNDLE_PATH", "BYPASS_CACHE", "HOME", "NPM_CONFIG_REGISTRY", "STRIPE_KEY"}, secrets: []string{"STRIPE_KEY"},
		},
		{name: "a blocked name written exactly passes and is secret", pass: []string{"MY_API_TOKEN"}, want: []string{"MY_API_TOKEN"}, secrets: []string{"MY_API_TOKEN"}},
		{name: "a blocked name written exactly, not a secret", pass: []string{"AWS_REGION", "JETWAY_SERVER"}, want: []string{"AWS_REGION", "JETWAY_SERVER"}},
		{name: "a glob does not pass a blocked name", pass: []string{"MY_*", "AWS_*", "JETWAY_*"}, want: nil},
		{name: "a regexp does not pass a blocked name", pass: []string{"/MY_API_TOKEN/", "/AWS_.*/"}, want: nil},
		{name: "the built-in block list ignores case", pass: []string{"*_token", "github_*"}, want: nil},
		{name: "the built-in block list covers *_SECRET* and *_PASSWORD*", pass: []string{"DB_*", "SENTRY_*"}, want: nil},
		{name: "globs", pass: []string{"BUNDLE_*"}, want: []string{"BUNDLE_JOBS", "BUNDLE_PATH"}},
		{name: "regexps match the whole name", pass: []string{"/BUNDLE/", "/NPM_CONFIG_[A-Z]+/"}, want: []string{"NPM_CONFIG_REGISTRY"}},
		{name: "a regexp with alternatives", pass: []string{"/BUNDLE_(PATH|JOBS)/"}, want: []string{"BUNDLE_JOBS", "BUNDLE_PATH"}},
		{name: "block wins over a glob", pass: []string{"BUNDLE_*"}, block: []string{"BUNDLE_JOBS"}, want: []string{"BUNDLE_PATH"}},
		{name: "block wins over an exact name", pass: []string{"MY_API_TOKEN", "HOME"}, block: []string{"/.*TOKEN/"}, want: []string{"HOME"}},
		{name: "block by glob", pass: []string{"*"}, block: []string{"B*"}, want: []string{"HOME", "NPM_CONFIG_REGISTRY", "STRIPE_KEY"}, secrets: []string{"STRIPE_KEY"}},
		{name: "user patterns are case-sensitive", pass: []string{"bundle_*", "/home/"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through the YAML, as a project file writes them.
			y := "project: a\nenv:\n  pass: " + yamlList(tt.pass) + "\n  block: " + yamlList(tt.block) + "\n"
			p, err := Parse("jetway.yaml", []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			passed, secrets := p.PassEnv(deployerEnv)
			if got := slices.Sorted(maps.Keys(passed)); !slices.Equal(got, tt.want) {
				t.Errorf("passed %v, want %v", got, tt.want)
			}
			if !slices.Equal(secrets, tt.secrets) {
				t.Errorf("secret names %v, want %v", secrets, tt.secrets)
			}
			for name, v := range passed {
				if !slices.Contains(deployerEnv, name+"="+v) {
					t.Errorf("%s=%q is not the deployer's value", name, v)
				}
			}
		})
	}
}

func yamlList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func TestPassEnvValues(t *testing.T) {
	p := &Project{Pass: []string{"A", "B", "C"}}
	passed, _ := p.PassEnv([]string{"A=1", "A=2", "B=", "C=x=y", "=nameless"})
	want := map[string]string{"A": "2", "B": "", "C": "x=y"}
	if !maps.Equal(passed, want) {
		t.Fatalf("passed %q, want %q", passed, want)
	}
}

func TestLooksSecret(t *testing.T) {
	secret := []string{"GITHUB_TOKEN", "TOKEN", "NPM_TOKEN_2", "github_token", "AWS_SECRET_ACCESS_KEY", "CLIENT_SECRET",
		"DB_PASSWORD", "MYSQL_PASSWORD_FILE", "SMTP_PASSWD", "GPG_PASSPHRASE", "DOCKER_PASS", "STRIPE_KEY", "SENTRY_APIKEY",
		"OPENAI_API_KEY", "SSH_PRIVATE_KEY_PEM", "GOOGLE_APPLICATION_CREDENTIALS", "NPM_AUTH", "SENTRY_DSN"}
	plain := []string{"HOME", "PATH", "BYPASS_CACHE", "COMPASS_DIR", "PASSENGER_ENV", "KEYBOARD", "KEY_ID", "TOKENIZER_PATH",
		"AUTHOR", "AWS_REGION", "BUNDLE_PATH"}
	for _, n := range secret {
		if !LooksSecret(n) {
			t.Errorf("%s does not look secret", n)
		}
	}
	for _, n := range plain {
		if LooksSecret(n) {
			t.Errorf("%s looks secret", n)
		}
	}
}
