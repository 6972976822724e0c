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

		// Empty files say so instead of EOF.
		{"empty file", "", "jetway.yaml: the file is empty; it needs at least `project: NAME`"},
		{"blank file", "  \n\n   \n", "the file is empty"},
		{"comments only", "# project: a\n# timeout: 5m\n", "jetway init"},
		{"empty document", "---\n", "the file is empty"},

		// Timeouts: the server's backstop adds to them, so a huge one overflowed.
		{"timeout overflowing the backstop", "project: a\ntimeout: 2562047h47m\n", `jetway.yaml:2: timeout "2562047h47m" is longer than 24h`},
		{"timeout just over a day", "project: a\ntimeout: 24h1s\n", `jetway.yaml:2: timeout "24h1s" is longer than 24h`},
		{"zero timeout", "project: a\ntimeout: 0s\n", `jetway.yaml:2: timeout "0s" must be longer than zero`},
		{"negative timeout", "project: a\ntimeout: -5m\n", `jetway.yaml:2: timeout "-5m" must be longer than zero`},

		// Tag templates that parse but use a field TagData lacks.
		{"unknown tag field", "project: a\nimage:\n  name: x\n  tags:\n    - latest\n    - '{{.Nope}}'\n",
			`jetway.yaml:6: image.tags: "{{.Nope}}" uses .Nope, which a tag does not have; use {{.Branch}}, {{.GitSHA}}, {{.RunID}}`},
		{"unknown tag field through $", "project: a\nimage:\n  name: x\n  tags: ['{{$.Sha}}']\n", "jetway.yaml:4: image.tags: \"{{$.Sha}}\" uses $.Sha"},
		{"unknown tag field in if", "project: a\nimage:\n  name: x\n  tags: ['{{if .Tag}}x{{end}}']\n", "uses .Tag"},
		{"unknown tag field in a pipeline", "project: a\nimage:\n  name: x\n  tags: ['{{.Commit | printf \"%.7s\"}}']\n", "uses .Commit"},
		{"unknown tag field in range", "project: a\nimage:\n  name: x\n  tags: ['{{range .Parts}}x{{end}}']\n", "uses .Parts"},
		{"field of a tag field", "project: a\nimage:\n  name: x\n  tags: ['{{.GitSHA.Short}}']\n", "uses .GitSHA.Short"},

		// env.pass and env.block patterns.
		{"bad regexp in pass", "project: a\nenv:\n  pass:\n    - BUNDLE_*\n    - /NPM_(/\n", `jetway.yaml:5: env.pass: "/NPM_(/": not a regular expression: error parsing regexp: missing closing ): ` + "`NPM_(`"},
		{"bad regexp in block", "project: a\nenv:\n  block: ['/[a-/']\n", `jetway.yaml:3: env.block: "/[a-/": not a regular expression`},
		{"empty regexp", "project: a\nenv:\n  pass: [//]\n", "the regular expression between the slashes is empty"},
		{"half a regexp", "project: a\nenv:\n  pass: [/NPM_.*]\n", `env.pass: "/NPM_.*": a regular expression is written between two slashes`},
		{"bad glob", "project: a\nenv:\n  pass: ['BUNDLE_[']\n", `jetway.yaml:3: env.pass: "BUNDLE_[": not a glob`},
		{"empty pattern", "project: a\nenv:\n  block: ['']\n", "an empty pattern matches nothing"},
		{"unknown env key", "project: a\nenv:\n  blocked: [A]\n", `jetway.yaml:3: unknown key "blocked" (known here: vars, pass, block)`},

		// limits.
		{"memory without a number", "project: a\nlimits:\n  memory: lots\n", `jetway.yaml:3: limits.memory "lots": write a size such as 512m or 2g`},
		{"negative memory", "project: a\nlimits:\n  memory: -1g\n", `jetway.yaml:3: limits.memory "-1g"`},
		{"unknown memory unit", "project: a\nlimits:\n  memory: 2x\n", `limits.memory "2x": write a size`},
		{"memory without its unit", "project: a\nlimits:\n  memory: 512\n", `limits.memory "512": is 512 bytes, less than a run needs; write a unit, e.g. 512m`},
		{"memory too large", "project: a\nlimits:\n  memory: 99999999t\n", `limits.memory "99999999t": too large`},
		{"pids not a number", "project: a\nlimits:\n  memory: 2g\n  pids: many\n", `jetway.yaml:4: limits.pids "many": write the most processes`},
		{"negative pids", "project: a\nlimits: {pids: -1}\n", `jetway.yaml:2: limits.pids "-1"`},
		{"fractional pids", "project: a\nlimits: {pids: 1.5}\n", `limits.pids "1.5"`},
		{"pids above the kernel's", "project: a\nlimits: {pids: 5000000}\n", `limits.pids "5000000" is above the kernel's maximum`},
		{"unknown limits key", "project: a\nlimits:\n  cpus: 2\n", `jetway.yaml:3: unknown key "cpus" (known here: memory, pids)`},
		{"limits not a mapping", "project: a\nlimits: 2g\n", "jetway.yaml:2"},
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

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		yaml string
		want time.Duration
	}{
		{"project: a\n", DefaultTimeout},
		{"project: a\ntimeout: 90s\n", 90 * time.Second},
		{"project: a\ntimeout: 24h\n", MaxTimeout},
	}
	for _, tt := range tests {
		p, err := Parse("jetway.yaml", []byte(tt.yaml))
		if err != nil || p.Timeout != tt.want {
			t.Errorf("%q: timeout %v, %v; want %v", tt.yaml, p.Timeout, err, tt.want)
		}
	}
}

func TestParseTagTemplates(t *testing.T) {
	for _, tag := range []string{
		"{{.GitSHA}}",
		"{{slice .GitSHA 0 7}}-{{.RunID}}",
		`{{.Branch | printf "b-%s"}}`,
		"{{$.RunID}}",
		"{{with .Branch}}{{.}}{{else}}detached{{end}}",
		"{{if .Branch}}{{.Branch}}{{end}}",
	} {
		t.Run(tag, func(t *testing.T) {
			p, err := Parse("jetway.yaml", []byte("project: a\nimage:\n  name: x\n  tags: ['"+tag+"']\n"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Image.RenderTags(p.Path, TagData{GitSHA: "0123456789abcdef", Branch: "main", RunID: "r1"}, true); err != nil {
				t.Fatalf("accepted at load but not at render: %v", err)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       Limits
	}{
		{"absent", "", Limits{}},
		{"both", "limits: {memory: 2g, pids: 512}", Limits{MemoryBytes: 2 << 30, PIDs: 512}},
		{"megabytes", "limits: {memory: 512m}", Limits{MemoryBytes: 512 << 20}},
		{"upper-case unit", "limits: {memory: 512M}", Limits{MemoryBytes: 512 << 20}},
		{"mb", "limits: {memory: 512mb}", Limits{MemoryBytes: 512 << 20}},
		{"MiB", "limits: {memory: 512MiB}", Limits{MemoryBytes: 512 << 20}},
		{"GB with a space", "limits: {memory: 1 GB}", Limits{MemoryBytes: 1 << 30}},
		{"fraction", "limits: {memory: 1.5g}", Limits{MemoryBytes: 3 << 29}},
		{"kilobytes", "limits: {memory: 8192k}", Limits{MemoryBytes: 8 << 20}},
		{"KiB", "limits: {memory: 8192KiB}", Limits{MemoryBytes: 8 << 20}},
		{"terabyte", "limits: {memory: 1t}", Limits{MemoryBytes: 1 << 40}},
		{"bytes as a number", "limits: {memory: 2147483648}", Limits{MemoryBytes: 2 << 30}},
		{"bytes with b", "limits: {memory: 2147483648b}", Limits{MemoryBytes: 2 << 30}},
		{"zero is no limit", "limits: {memory: 0, pids: 0}", Limits{}},
		{"zero with a unit", "limits: {memory: 0g}", Limits{}},
		{"pids alone", "limits:\n  pids: 64", Limits{PIDs: 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("jetway.yaml", []byte("project: a\n"+tt.yaml+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if p.Limits != tt.want {
				t.Fatalf("limits %+v, want %+v", p.Limits, tt.want)
			}
		})
	}
}

func TestRunsOn(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte("project: p\nruns_on: {pool: builders, arch: amd64}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"pool": "builders", "arch": "amd64", "os": "linux"}, true},
		{map[string]string{"pool": "builders"}, false},
		{map[string]string{"pool": "other", "arch": "amd64"}, false},
		{nil, false},
	} {
		if got := p.Matches(tc.labels); got != tc.want {
			t.Errorf("%v: %v", tc.labels, got)
		}
	}
	if free, _ := Parse("jetway.yaml", []byte("project: p\n")); !free.Matches(nil) {
		t.Error("a project without runs_on must match any agent")
	}
	if _, err := Parse("jetway.yaml", []byte("project: p\nruns_on:\n  pool: \"a b\"\n")); err == nil || !strings.Contains(err.Error(), "jetway.yaml:2") {
		t.Errorf("a bad label: %v", err)
	}
}
