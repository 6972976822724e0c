package config

import (
	"strings"
	"testing"
	"time"
)

const goodProject = `project: hello
ssm_env: dev
env:
  vars:
    DOCKER_HOST: ssh://builder@docker.internal
    JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    DOCKER_PASS: secret:prod/registry:password
  pass: ["BUNDLE_*"]
image:
  name: registry.internal:5000/hello
  tags: ["{{.GitSHA}}", latest]
  build_args: {APP_ENV: production}
  push: true
phases:
  build: ["echo hi"]
timeout: 5m
`

func TestParseProject(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte(goodProject))
	if err != nil {
		t.Fatal(err)
	}
	if p.Project != "hello" || p.Timeout != 5*time.Minute || p.Image.Dockerfile != "Dockerfile" || p.Image.Pull != "missing" || len(p.Vars) != 3 {
		t.Fatalf("parsed %+v %+v", p, p.Image)
	}
	refs, err := p.References(p.Env(""))
	if err != nil {
		t.Fatal(err)
	}
	if refs["JETS_SSH_KEY"].Name != "/dev/JETS_SSH_KEY" || refs["DOCKER_PASS"].JSONKey != "password" || len(refs) != 2 {
		t.Fatalf("refs %+v", refs)
	}
	if refs, _ := p.References(p.Env("prod")); refs["JETS_SSH_KEY"].Name != "/prod/JETS_SSH_KEY" {
		t.Fatalf("--env override: %+v", refs)
	}
	tags, err := p.Image.RenderTags(p.Path, TagData{GitSHA: "abc123", RunID: "r1"}, true)
	if err != nil || strings.Join(tags, ",") != "abc123,latest" {
		t.Fatalf("tags %v %v", tags, err)
	}
	if _, err := p.Image.RenderTags(p.Path, TagData{}, false); err == nil || !strings.Contains(err.Error(), "{{.GitSHA}}") {
		t.Fatalf("GitSHA outside git: %v", err)
	}
}

func TestParseProjectErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "project: a\nimgae: {}\n", `jetway.yaml:2: unknown key "imgae" (known here: project`},
		{"unknown nested key", "project: a\nimage:\n  name: x\n  tag: [a]\n", `jetway.yaml:4: unknown key "tag"`},
		{"missing project", "ssm_env: dev\n", "project: is missing"},
		{"bad project name", "project: Hello World\n", `jetway.yaml:1: project "Hello World"`},
		{"bad timeout", "project: a\ntimeout: soon\n", `jetway.yaml:2: timeout "soon"`},
		{"bad reference", "project: a\nenv:\n  vars:\n    K: SSM:/dev/bad name\n", `jetway.yaml:4: env.vars.K: reference "SSM:/dev/bad name"`},
		{"bad var name", "project: a\nenv:\n  vars:\n    1X: v\n", `jetway.yaml:4: env.vars: "1X"`},
		{"image without name", "project: a\nimage:\n  push: true\n", "jetway.yaml:2: image.name is missing"},
		{"bad pull", "project: a\nimage:\n  name: x\n  pull: sometimes\n", `jetway.yaml:4: image.pull "sometimes"`},
		{"not yaml", "project: [a\n", "jetway.yaml"},
		{"bad tag template", "project: a\nimage:\n  name: x\n  tags: ['{{.Nope']\n", "jetway.yaml:4: image.tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("jetway.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	p, err := Parse("jetway.yaml", []byte("project: a\nenv:\n  vars:\n    K: SSM:/#{ssm_env}/K\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.References(""); err == nil || !strings.Contains(err.Error(), "jetway.yaml:4") || !strings.Contains(err.Error(), "--env") {
		t.Fatalf("no env: %v", err)
	}
}
