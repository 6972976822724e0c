package config

import (
	"errors"
	"fmt"
	"slices"
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
		{"unknown limits key", "project: a\nlimits:\n  swap: 2g\n", `jetway.yaml:3: unknown key "swap" (known here: memory, pids, cpus)`},
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
	if _, err := p.References(""); err == nil || !strings.Contains(err.Error(), "jetway.yaml:4") || !strings.Contains(err.Error(), "--ssm-env") {
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

func TestParseWithVars(t *testing.T) {
	p, err := ParseWithVars("jetway.yaml", []byte(goodProject), map[string]string{
		"DOCKER_HOST": "tcp://other:2375",        // overrides the file's
		"DB_PASSWORD": "SSM:/#{ssm_env}/DB_PASS", // a reference of a blocked name
		"APP_KEY":     "abcdef",                  // plain, looks secret
		"COLOR":       "blue",
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range p.Vars {
		got = append(got, fmt.Sprintf("%s=%s/%v", v.Name, v.Value, v.FromRun))
	}
	want := []string{"DOCKER_HOST=tcp://other:2375/true", "JETS_SSH_KEY=SSM:/#{ssm_env}/JETS_SSH_KEY/false", "DOCKER_PASS=secret:prod/registry:password/false",
		"APP_KEY=abcdef/true", "COLOR=blue/true", "DB_PASSWORD=SSM:/#{ssm_env}/DB_PASS/true"}
	if !slices.Equal(got, want) {
		t.Fatalf("vars\n got %q\nwant %q", got, want)
	}
	refs, err := p.References(p.Env("prod"))
	if err != nil || refs["DB_PASSWORD"].Name != "/prod/DB_PASS" || len(refs) != 3 {
		t.Fatalf("refs %+v %v", refs, err)
	}
	shown := ShownVars(map[string]string{"APP_KEY": "abcdef", "COLOR": "blue", "DB_PASSWORD": "SSM:/x/DB", "EMPTY_TOKEN": ""})
	if shown["APP_KEY"] != Masked || shown["COLOR"] != "blue" || shown["DB_PASSWORD"] != "SSM:/x/DB" || shown["EMPTY_TOKEN"] != "" {
		t.Fatalf("shown %v", shown)
	}
}

func TestParseWithVarsRefuses(t *testing.T) {
	file := goodProject + "  \n"
	file = strings.Replace(file, `pass: ["BUNDLE_*"]`, `pass: ["BUNDLE_*"]`+"\n  block: [\"INTERNAL_*\"]", 1)
	tests := []struct{ name, value, want string }{
		{"1ABC", "x", `-e 1ABC: "1ABC" is not a variable name`},
		{"A-B", "x", `is not a variable name`},
		{"", "x", `is not a variable name`},
		{"INTERNAL_URL", "x", "-e INTERNAL_URL: env.block of jetway.yaml blocks this name"},
		{"JETWAY_RUN_TOKEN", "SSM:/x", "-e JETWAY_RUN_TOKEN: jetway never gives a run this variable"},
		{"ssh_auth_sock", "/tmp/x", "jetway never gives a run this variable"},
		{"GITHUB_TOKEN", "ghp_plain", "-e GITHUB_TOKEN: a plain value would be stored with the run as it is; store it as a parameter"},
		{"AWS_SECRET_ACCESS_KEY", "plain", "store it as a parameter"},
		{"DB_PASSWORD", "hunter2", "store it as a parameter"},
		{"API_KEY", "abc", "the masker needs at least 4 characters"},
		{"BAD_REF", "SSM:relative/x", `-e BAD_REF: reference "SSM:relative/x"`},
		{"NUL", "a\x00b", "NUL byte"},
		{"BIG", strings.Repeat("x", MaxRunVarValue+1), "at most 32768 are allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWithVars("jetway.yaml", []byte(file), map[string]string{tt.name: tt.value})
			var rv *RunVarError
			if !errors.As(err, &rv) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	many := map[string]string{}
	for i := range MaxRunVars + 1 {
		many[fmt.Sprintf("V%d", i)] = "x"
	}
	if _, err := ParseWithVars("jetway.yaml", []byte(goodProject), many); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("too many: %v", err)
	}
	// A reference with #{ssm_env} but no environment is the References error, named by -e.
	p, err := ParseWithVars("jetway.yaml", []byte("project: a\n"), map[string]string{"X": "SSM:/#{ssm_env}/X"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.References(""); err == nil || !strings.Contains(err.Error(), "-e X uses #{ssm_env}") {
		t.Fatalf("no env: %v", err)
	}
}

func TestParseArtifacts(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte("project: a\nartifacts: [coverage/, \"log/*.xml\", ./out/report.txt, \"*/junit/\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"coverage/", "log/*.xml", "out/report.txt", "*/junit/"}; !slices.Equal(p.Artifacts, want) {
		t.Fatalf("artifacts %q, want %q", p.Artifacts, want)
	}
	tests := []struct{ entry, want string }{
		{`""`, "jetway.yaml:3: artifacts: an empty path"},
		{"/etc/passwd", `artifacts: "/etc/passwd" is absolute`},
		{"../x", `artifacts: "../x" is not beneath the workspace`},
		{"a/../../x", "is not beneath the workspace"},
		{".", "is not beneath the workspace"},
		{`"log/[a-"`, `"[a-" is not a glob`},
		{`'a\b'`, "a backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			_, err := Parse("jetway.yaml", []byte("project: a\nartifacts:\n  - "+tt.entry+"\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDockerHostPool(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte("project: p\ndocker_host: {pool: warm-1}\n"))
	if err != nil || p.DockerPool != "warm-1" {
		t.Fatalf("%v %q", err, p.DockerPool)
	}
	for _, tc := range []struct{ file, want string }{
		{"project: p\ndocker_host: {pool: \"a b\"}\n", "jetway.yaml:2"},
		{"project: p\ndocker_host: {}\n", "name a pool"},
		{"project: p\nenv:\n  vars:\n    DOCKER_HOST: ssh://b@h\ndocker_host: {pool: warm}\n", "keep one"},
		{"project: p\ndocker_host: {pool: warm, url: x}\n", "url"},
	} {
		if _, err := Parse("jetway.yaml", []byte(tc.file)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.file, err, tc.want)
		}
	}
	if p, err := ParseWithVars("jetway.yaml", []byte("project: p\ndocker_host: {pool: warm}\n"), map[string]string{"DOCKER_HOST": "ssh://b@h"}); err == nil {
		t.Fatalf("-e DOCKER_HOST with a pool: %+v", p)
	}
}

func TestParseMachineLimits(t *testing.T) {
	l, err := ParseMachineLimits("memory=4g, pids=1024,cpus=1.5")
	if err != nil || l.MemoryBytes != 4<<30 || l.PIDs != 1024 || l.CPUs != 1.5 {
		t.Fatalf("%+v %v", l, err)
	}
	if l, err := ParseMachineLimits(""); err != nil || l != (Limits{}) {
		t.Fatalf("empty: %+v %v", l, err)
	}
	for in, want := range map[string]string{
		"memory":      "NAME=VALUE",
		"memory=lots": "a size",
		"pids=-1":     "most processes",
		"cpus=x":      "how many CPUs",
		"cpus=0.001":  "0.01 at least",
		"disk=10g":    "does not limit a run's disk",
		"swap=1g":     "memory, pids and cpus",
		"memory=1":    "less than a run needs",
	} {
		if _, err := ParseMachineLimits(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	p, err := Parse("jetway.yaml", []byte("project: p\nlimits: {cpus: 0.5}\n"))
	if err != nil || p.Limits.CPUs != 0.5 {
		t.Fatalf("limits.cpus: %+v %v", p.Limits, err)
	}
}
