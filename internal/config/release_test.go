package config

import (
	"slices"
	"strings"
	"testing"
)

func TestParseHooksAndRelease(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte(`project: app
env:
  vars:
    DATABASE_URL: SSM:/dev/DATABASE_URL
  pass: [RAILS_*]
image: {name: registry.internal/app, push: true}
hooks:
  before_build: ["./scripts/x", "echo two"]
  after_release: [echo done]
release:
  command: bin/rails 'db:migrate' "VERSION=1 2"
  env: [DATABASE_URL, RAILS_MASTER_KEY]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Hooks.Commands(BeforeBuild), []string{"./scripts/x", "echo two"}) || !slices.Equal(p.Hooks.Commands(AfterRelease), []string{"echo done"}) || p.Hooks.Commands(AfterBuild) != nil {
		t.Fatalf("hooks %+v", p.Hooks)
	}
	if p.Release == nil || !slices.Equal(p.Release.Command, []string{"bin/rails", "db:migrate", "VERSION=1 2"}) || !slices.Equal(p.Release.Env, []string{"DATABASE_URL", "RAILS_MASTER_KEY"}) || p.Release.Line != 11 {
		t.Fatalf("release %+v", p.Release)
	}
	p, err = Parse("jetway.yaml", []byte("project: app\nimage: {name: x}\nrelease: {command: [sh, -c, 'echo $X']}\n"))
	if err != nil || !slices.Equal(p.Release.Command, []string{"sh", "-c", "echo $X"}) {
		t.Fatalf("a list command: %+v %v", p.Release, err)
	}
}

func TestParseHooksAndReleaseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown hook", "project: a\nhooks:\n  before_deploy: [x]\n", `jetway.yaml:3: unknown key "before_deploy" (known here: before_build, after_build, before_release, after_release)`},
		{"hook not a list", "project: a\nhooks:\n  before_build: {a: b}\n", "jetway.yaml:3"},
		{"empty hook command", "project: a\nhooks:\n  after_build:\n    - echo\n    - ''\n", "jetway.yaml:5: hooks.after_build: an empty command"},
		{"release without image", "project: a\nrelease: {command: migrate}\n", "jetway.yaml:2: release: runs in the image the build phase builds, but there is no image: section"},
		{"release without command", "project: a\nimage: {name: x}\nrelease:\n  env: [A]\n", "jetway.yaml:3: release.command is missing"},
		{"release empty command", "project: a\nimage: {name: x}\nrelease:\n  command: '  '\n", "jetway.yaml:4: release.command is empty"},
		{"release unclosed quote", "project: a\nimage: {name: x}\nrelease:\n  command: echo 'hi\n", `jetway.yaml:4: release.command "echo 'hi": a single quote is not closed`},
		{"release command a map", "project: a\nimage: {name: x}\nrelease:\n  command: {a: b}\n", "jetway.yaml:4: release.command must be a string"},
		{"release unknown key", "project: a\nimage: {name: x}\nrelease:\n  command: x\n  envs: [A]\n", `jetway.yaml:5: unknown key "envs" (known here: command, env)`},
		{"release env unknown name", "project: a\nenv:\n  vars: {A: x}\nimage: {name: x}\nrelease:\n  command: x\n  env: [A, DATABASE_URL]\n", "jetway.yaml:7: release.env: DATABASE_URL is neither a run variable (env.vars) nor passed"},
		{"release env blocked", "project: a\nenv:\n  pass: ['*']\n  block: [SECRET_*]\nimage: {name: x}\nrelease:\n  command: x\n  env: [SECRET_X]\n", "release.env: SECRET_X is neither"},
		{"release env built-in blocked by a glob", "project: a\nenv:\n  pass: ['*']\nimage: {name: x}\nrelease:\n  command: x\n  env: [GITHUB_TOKEN]\n", "release.env: GITHUB_TOKEN is neither"},
		{"release env bad name", "project: a\nimage: {name: x}\nrelease:\n  command: x\n  env: [A-B]\n", `release.env: "A-B" is not a variable name`},
		{"release env twice", "project: a\nenv:\n  vars: {A: x}\nimage: {name: x}\nrelease:\n  command: x\n  env: [A, A]\n", "jetway.yaml:7: release.env: A is named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("jetway.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{"bin/rails db:migrate", []string{"bin/rails", "db:migrate"}, false},
		{"  a\t b  ", []string{"a", "b"}, false},
		{`a 'b c' "d e"`, []string{"a", "b c", "d e"}, false},
		{`a\ b`, []string{"a b"}, false},
		{`"a\"b\\c\$d\e"`, []string{`a"b\c$d\e`}, false},
		{`''`, []string{""}, false},
		{`x"y"'z'`, []string{"xyz"}, false},
		{`$HOME`, []string{"$HOME"}, false},
		{`"open`, nil, true},
		{`'open`, nil, true},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, err := SplitWords(tt.in)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// A name given with -e is a run variable for release.env: the check knows
// the run's variables, so a deploy that gives it loads, and one that does
// not fails as before.
func TestReleaseEnvAcceptsRunVars(t *testing.T) {
	file := []byte("project: a\nimage: {name: x}\nrelease:\n  command: migrate\n  env: [DATABASE_URL]\n")
	if _, err := Parse("jetway.yaml", file); err == nil || !strings.Contains(err.Error(), "jetway deploy -e DATABASE_URL=VALUE") {
		t.Fatalf("without -e: %v", err)
	}
	p, err := ParseWithVars("jetway.yaml", file, map[string]string{"DATABASE_URL": "SSM:/dev/DATABASE_URL"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Release == nil || !p.hasVar("DATABASE_URL") {
		t.Fatalf("release %+v vars %+v", p.Release, p.Vars)
	}
}
