package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/config"
)

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My App")
	must(t, os.MkdirAll(filepath.Join(dir, "docker"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "docker", "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", dir)
	if code != 0 || !strings.Contains(out, "jetway.yaml") {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatalf("the starter file does not load: %v", err)
	}
	if p.Project != "my-app" || p.Image == nil || p.Image.Dockerfile != "docker/Dockerfile" {
		t.Fatalf("starter project %+v %+v", p, p.Image)
	}
	data, _ := os.ReadFile(filepath.Join(dir, config.FileName))
	for _, want := range []string{"# DOCKER_HOST: ssh://", "# JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY", "# JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN", "ssh-keyscan -H -t rsa"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("starter file lacks %q", want)
		}
	}
	if code, _, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", dir); code != ExitFailed || !strings.Contains(errOut, "--force") {
		t.Fatalf("a second init: %d %s", code, errOut)
	}
	if code, _, _ := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", dir, "--force"); code != 0 {
		t.Fatal("init --force failed")
	}
	empty := t.TempDir()
	if code, _, _ := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", empty); code != 0 {
		t.Fatal("init without a Dockerfile failed")
	}
	if p, err := config.Load(filepath.Join(empty, config.FileName)); err != nil || p.Image != nil {
		t.Fatalf("without a Dockerfile: %+v %v", p, err)
	}
}

// TestInitCarriesJetsVars: a project of the Jets remote runner gets its
// literal CodeBuild variables (strings, SSM: and SECRET: references with
// #{ssm_env}) in env.vars, and a list of what was not carried over.
func TestInitCarriesJetsVars(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "config", "jets"), 0o755))
	for _, name := range []string{"bootstrap.rb", "deploy.rb"} {
		data, err := os.ReadFile(filepath.Join("testdata", "jets", name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, "config", "jets", name), data, 0o644))
	}
	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "init", dir)
	if code != 0 || !strings.Contains(out, "jetway.yaml") {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	p, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatalf("the written file does not load: %v", err)
	}
	got := map[string]string{}
	var order []string
	for _, v := range p.Vars {
		got[v.Name] = v.Value
		order = append(order, v.Name)
	}
	want := map[string]string{
		"DOCKER_HOST":      "ssh://ubuntu@docker.myhost.com",
		"JETS_SSH_KEY":     "SSM:/#{ssm_env}/JETS_SSH_KEY",
		"JETS_SSH_KNOWN":   "SSM:/#{ssm_env}/JETS_SSH_KNOWN",
		"DOCKER_USER":      `deploy"bot`,
		"DOCKER_PASS":      "SSM:/#{ssm_env}/DOCKER_PASS",
		"RAILS_MASTER_KEY": "SECRET:prod/rails:master_key",
		"WEB_CONCURRENCY":  "2",
		"GREETING":         "hello\tworld, {braces} and #hash",
		"EXTRA":            "extra-value",
	}
	if len(got) != len(want) {
		t.Errorf("carried %v, want %v", order, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	refs, err := p.References("prod")
	if err != nil || refs["JETS_SSH_KEY"].Name != "/prod/JETS_SSH_KEY" || refs["RAILS_MASTER_KEY"].JSONKey != "master_key" {
		t.Fatalf("references %+v %v", refs, err)
	}
	for _, line := range []string{
		"config/jets/bootstrap.rb:12: DATABASE_URL: ENV.fetch(\"DATABASE_URL\") is not a literal string",
		"config/jets/bootstrap.rb:13: APP_URL: \"https://#{Jets.project_namespace}.example.com\" interpolates Ruby",
		"config/jets/bootstrap.rb:14: BUNDLE_WITHOUT: %w[development test].join(\":\") is not a literal string",
		"config/jets/bootstrap.rb:15: BAD_REF: reference",
		"config/jets/bootstrap.rb:18: LATER: Jets.env is not a literal string",
		"config/jets/deploy.rb:2: codebuild.project.env.vars.merge!(FROM_DEPLOY: \"x\"): only",
		"config/jets/deploy.rb:3: DOCKER_HOST is set again; the value of config/jets/bootstrap.rb:3 is kept",
	} {
		if !strings.Contains(errOut, line) {
			t.Errorf("stderr lacks %q:\n%s", line, errOut)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, config.FileName))
	if strings.Contains(string(data), "# DOCKER_HOST: ssh://") || strings.Contains(string(data), "APP_ENV") {
		t.Errorf("the starter's placeholders stay beside carried variables:\n%s", data)
	}
}

func TestParseJetsVarsForms(t *testing.T) {
	tests := []struct {
		name, src string
		vars      string // NAME=value, ...
		notes     string // substrings of the notes, |-separated
	}{
		{"seed form", "config.codebuild.project.env.vars = {\n  DOCKER_HOST: \"ssh://u@h\",\n}\n", "DOCKER_HOST=ssh://u@h", ""},
		{"brace on the next line", "config.codebuild.project.env.vars =\n  {\"A\" => 'x'}\n", "A=x", ""},
		{"no trailing comma, one line", "c.codebuild.project.env.vars = {A: \"1\", B: \"2\"}", "A=1, B=2", ""},
		{"commented out", "# config.codebuild.project.env.vars = {A: \"1\"}\n", "", ""},
		{"nested hash value", "config.codebuild.project.env.vars = {A: {b: 1}, C: \"c\"}", "C=c", "A: {b: 1} is not a literal string"},
		{"method call", "config.codebuild.project.env.vars = default_vars\n", "", "= default_vars: only"},
		{"symbol value", "config.codebuild.project.env.vars = {A: :sym}", "", "A: :sym is not a literal string"},
		{"concatenation", "config.codebuild.project.env.vars = {A: \"a\" + \"b\"}", "", "A: \"a\" + \"b\" is not a literal string"},
		{"heredoc", "config.codebuild.project.env.vars = {A: <<~EOS\n  x\nEOS\n}", "", "A: <<~EOS x EOS is not a literal string"},
		{"ternary", "config.codebuild.project.env.vars = {A: prod? ? \"1\" : \"2\"}", "", "A: prod? ? \"1\" : \"2\" is not a literal string"},
		{"unclosed", "config.codebuild.project.env.vars = {A: \"1\",\n", "A=1", "does not end"},
		{"unclosed string", "config.codebuild.project.env.vars = {A: \"1}\n", "", "does not end"},
		{"odd escape", "config.codebuild.project.env.vars = {A: \"\\u00e9\"}", "", "escape sequence"},
		{"escaped quote and hash", "config.codebuild.project.env.vars = {A: \"say \\\"hi\\\" \\#1\"}", `A=say "hi" #1`, ""},
		{"not an entry", "config.codebuild.project.env.vars = {**base, A: \"1\"}", "A=1", "**base: not a KEY: value"},
		{"element with a method", "config.codebuild.project.env.vars[:A] = ENV[\"A\"]\n", "", "A: ENV[\"A\"] is not a literal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars, notes := parseJetsVars(tt.src)
			var got []string
			for _, v := range vars {
				got = append(got, v.name+"="+v.value)
			}
			if strings.Join(got, ", ") != tt.vars {
				t.Errorf("vars %q, want %q", strings.Join(got, ", "), tt.vars)
			}
			var texts []string
			for _, n := range notes {
				texts = append(texts, n.text)
			}
			all := strings.Join(texts, "\n")
			if tt.notes == "" && len(notes) > 0 {
				t.Errorf("notes %q, want none", all)
			}
			for _, want := range strings.Split(tt.notes, "|") {
				if want != "" && !strings.Contains(all, want) {
					t.Errorf("notes %q lack %q", all, want)
				}
			}
		})
	}
}
