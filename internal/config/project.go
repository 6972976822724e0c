package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jetway-dev/jetway/internal/mask"
)

// FileName is the project file jetway looks for.
const FileName = "jetway.yaml"

// DefaultTimeout bounds a run whose project file sets none.
const DefaultTimeout = 60 * time.Minute

// MaxTimeout is the longest timeout a project may set. The server adds its
// own margin to the timeout, so an unbounded one could overflow.
const MaxTimeout = 24 * time.Hour

// Project is a parsed jetway.yaml.
type Project struct {
	Project string
	SSMEnv  string
	// Vars are the run variables in file order; values may be references.
	Vars []Var
	// Pass and Block are env.pass and env.block as written: names, globs
	// and /regular expressions/. PassEnv applies them.
	Pass   []string
	Block  []string
	Image  *Image
	Phases Phases
	// Hooks are the commands of hooks: (the runner adds the executables
	// of .jetway/hooks); Release, if set, runs in the new image.
	Hooks   Hooks
	Release *Release
	Timeout time.Duration
	Limits  Limits
	// RunsOn are the labels an agent must have to take the project's runs.
	RunsOn map[string]string
	// DockerPool names the pool of Docker hosts the server knows that the
	// project's runs build on (docker_host: {pool: NAME}); "" when the
	// project names its DOCKER_HOST in env.vars, or none.
	DockerPool string
	// Artifacts are the workspace paths (slash-separated, relative; a
	// final / for a directory; path.Match globs per segment) that the
	// runner keeps after the phases.
	Artifacts []string
	// IDTokens are the OIDC tokens the run gets from the server
	// (id_tokens:), in file order.
	IDTokens []IDToken
	// Path is the file the project was read from.
	Path string
}

// Limits are the resource limits of a run's processes; zero means none.
type Limits struct {
	MemoryBytes int64
	PIDs        int
	// CPUs is how many CPUs' worth of time the run's processes may use.
	CPUs float64
}

// Var is one run variable.
type Var struct {
	Name  string
	Value string
	Line  int
	// FromRun marks a variable given for one run only (jetway deploy -e,
	// jetway rerun -e) rather than in the file; it overrides the file's.
	FromRun bool
}

// key names the variable in messages: where the user wrote it.
func (v Var) key() string {
	if v.FromRun {
		return "-e " + v.Name
	}
	return "env.vars." + v.Name
}

// Phases are shell commands, run in order with CodeBuild's semantics.
type Phases struct {
	Install   []string
	PreBuild  []string
	Build     []string
	PostBuild []string
}

type rawProject struct {
	Project string    `yaml:"project"`
	SSMEnv  string    `yaml:"ssm_env"`
	Env     rawEnv    `yaml:"env"`
	Image   *rawImage `yaml:"image"`
	Phases  struct {
		Install   []string `yaml:"install"`
		PreBuild  []string `yaml:"pre_build"`
		Build     []string `yaml:"build"`
		PostBuild []string `yaml:"post_build"`
	} `yaml:"phases"`
	Hooks      rawHooks          `yaml:"hooks"`
	Release    *rawRelease       `yaml:"release"`
	Timeout    string            `yaml:"timeout"`
	Limits     rawLimits         `yaml:"limits"`
	RunsOn     map[string]string `yaml:"runs_on"`
	DockerHost *rawDockerHost    `yaml:"docker_host"`
	Artifacts  []string          `yaml:"artifacts"`
	IDTokens   yaml.Node         `yaml:"id_tokens"`
}

type rawDockerHost struct {
	Pool string `yaml:"pool"`
}

type rawEnv struct {
	Vars  yaml.Node `yaml:"vars"`
	Pass  []string  `yaml:"pass"`
	Block []string  `yaml:"block"`
}

// rawLimits are strings so that a bad value gets our message, not the
// YAML decoder's.
type rawLimits struct {
	Memory string `yaml:"memory"`
	PIDs   string `yaml:"pids"`
	CPUs   string `yaml:"cpus"`
}

// ConfigError is a problem in the project file, at a line.
type ConfigError struct {
	Path string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

var (
	projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLineRE    = regexp.MustCompile(`line (\d+): (.*)`)
	unknownKeyRE  = regexp.MustCompile(`field (\S+) not found in type (\S+)`)
)

// labelRE is an agent label's key or value.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// LabelString renders labels as k=v,… in key order.
func LabelString(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// ValidProjectName tells whether name may name a project (project: in
// jetway.yaml; jetway projects on the server).
func ValidProjectName(name string) bool { return projectNameRE.MatchString(name) }

// ValidLabel tells whether s may be an agent label's key or value (runs_on,
// jetway agent --labels).
func ValidLabel(s string) bool { return labelRE.MatchString(s) }

// Matches tells whether an agent with labels may take the project's runs:
// it has every label of runs_on with the same value.
func (p *Project) Matches(labels map[string]string) bool {
	for k, v := range p.RunsOn {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// knownKeys tells the user what may stand where an unknown key stood.
var knownKeys = map[string]string{
	"config.rawProject": "project, ssm_env, env, image, phases, hooks, release, artifacts, timeout, limits, runs_on, docker_host, id_tokens",
	"config.rawHooks":   hookKeys,
	"config.rawRelease": releaseKeys,
	"config.rawEnv":     "vars, pass, block",
	"config.rawLimits":  "memory, pids, cpus",
	"config.rawImage":   imageKeys,
}

// Load reads and validates a project file. Errors name the file and line
// and say what to write instead.
func Load(path string) (*Project, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &ConfigError{Path: path, Msg: "no such file; create one with `jetway init`"}
	}
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse validates a project file's content.
func Parse(path string, data []byte) (*Project, error) {
	return ParseWithVars(path, data, nil)
}

// ParseWithVars validates a project file's content with the variables
// given for one run (jetway deploy -e NAME=VALUE): they add to env.vars or
// override its values, and are checked as the file is (names, references,
// env.block; see CheckRunVar), before release.env, which may name them.
func ParseWithVars(path string, data []byte, runVars map[string]string) (*Project, error) {
	var raw rawProject
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			// The decoder's word for a file with no YAML document in it:
			// empty, or only blank lines and comments.
			return nil, emptyFileError(path)
		}
		return nil, yamlError(path, data, err)
	}
	lines := keyLines(data)
	if len(lines) == 0 {
		// A document with nothing in it: "---", "~" or "null".
		return nil, emptyFileError(path)
	}
	p := &Project{Project: raw.Project, SSMEnv: raw.SSMEnv, Pass: raw.Env.Pass, Block: raw.Env.Block, Path: path, Timeout: DefaultTimeout,
		Phases: Phases{Install: raw.Phases.Install, PreBuild: raw.Phases.PreBuild, Build: raw.Phases.Build, PostBuild: raw.Phases.PostBuild}}
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Path: path, Line: lines[key], Msg: fmt.Sprintf(format, args...)}
	}
	if p.Project == "" {
		return nil, bad("", "project: is missing; write for example `project: hello` (lower-case letters, digits and -)")
	}
	if !projectNameRE.MatchString(p.Project) {
		return nil, bad("project", "project %q: use lower-case letters, digits and - only", p.Project)
	}
	if p.SSMEnv != "" {
		if err := ValidEnvName(p.SSMEnv); err != nil {
			return nil, bad("ssm_env", "ssm_env: %v", err)
		}
	}
	if raw.Timeout != "" {
		d, err := time.ParseDuration(raw.Timeout)
		switch {
		case err != nil:
			return nil, bad("timeout", "timeout %q is not a duration; write for example 30m or 1h30m", raw.Timeout)
		case d <= 0:
			return nil, bad("timeout", "timeout %q must be longer than zero; write for example 30m", raw.Timeout)
		case d > MaxTimeout:
			return nil, bad("timeout", "timeout %q is longer than 24h, the longest run jetway allows", raw.Timeout)
		}
		p.Timeout = d
	}
	var err error
	if err = p.parseVars(path, &raw.Env.Vars); err != nil {
		return nil, err
	}
	for _, list := range []struct {
		key     string
		entries []string
	}{{"env.pass", p.Pass}, {"env.block", p.Block}} {
		for i, e := range list.entries {
			if _, err := parseNamePattern(e); err != nil {
				return nil, bad(fmt.Sprintf("%s[%d]", list.key, i), "%s: %q: %v", list.key, e, err)
			}
		}
	}
	if err := p.addRunVars(runVars); err != nil {
		return nil, err
	}
	if err := p.parseIDTokens(path, &raw.IDTokens); err != nil {
		return nil, err
	}
	if p.Artifacts, err = parseArtifacts(raw.Artifacts, bad); err != nil {
		return nil, err
	}
	if p.Limits, err = parseLimits(raw.Limits, bad); err != nil {
		return nil, err
	}
	for k, v := range raw.RunsOn {
		if !ValidLabel(k) || !ValidLabel(v) {
			return nil, bad("runs_on", "runs_on: %s: %s: labels are letters, digits, -, _ and . (e.g. runs_on: {pool: builders, arch: amd64})", k, v)
		}
	}
	p.RunsOn = raw.RunsOn
	if raw.DockerHost != nil {
		if !ValidLabel(raw.DockerHost.Pool) {
			return nil, bad("docker_host", "docker_host: pool %q: name a pool of Docker hosts the server knows (letters, digits, -, _ and .), e.g. docker_host: {pool: builders}; jetway hosts ls lists them", raw.DockerHost.Pool)
		}
		for _, v := range p.Vars {
			if v.Name == "DOCKER_HOST" {
				return nil, bad("docker_host", "docker_host: {pool: %s} and env.vars.DOCKER_HOST both name the Docker host; keep one", raw.DockerHost.Pool)
			}
		}
		p.DockerPool = raw.DockerHost.Pool
	}
	if raw.Image != nil {
		if p.Image, err = parseImage(p.Project, raw.Image, bad); err != nil {
			return nil, err
		}
	}
	if p.Hooks, err = parseHooks(raw.Hooks, bad); err != nil {
		return nil, err
	}
	if raw.Release != nil {
		if p.Release, err = p.parseRelease(raw.Release, bad); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func emptyFileError(path string) error {
	return &ConfigError{Path: path, Msg: "the file is empty; it needs at least `project: NAME` and the commands to run under `phases:`, e.g. `phases: {build: [make]}`; run `jetway init` to write a starter file"}
}

func (p *Project) parseVars(path string, node *yaml.Node) error {
	if node.Kind == 0 {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		return &ConfigError{Path: path, Line: node.Line, Msg: "env.vars must be a mapping of NAME: value"}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if !envNameRE.MatchString(k.Value) {
			return &ConfigError{Path: path, Line: k.Line, Msg: fmt.Sprintf("env.vars: %q is not a variable name (letters, digits, _)", k.Value)}
		}
		if seen[k.Value] {
			return &ConfigError{Path: path, Line: k.Line, Msg: fmt.Sprintf("env.vars: %s is set twice", k.Value)}
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode {
			return &ConfigError{Path: path, Line: v.Line, Msg: fmt.Sprintf("env.vars.%s must be a string", k.Value)}
		}
		if _, _, err := ParseRef(ExpandEnv(v.Value, "env")); err != nil {
			return &ConfigError{Path: path, Line: v.Line, Msg: fmt.Sprintf("env.vars.%s: %v", k.Value, err)}
		}
		p.Vars = append(p.Vars, Var{Name: k.Value, Value: v.Value, Line: v.Line})
	}
	return nil
}

func yamlError(path string, data []byte, err error) error {
	msg := err.Error()
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return &ConfigError{Path: path, Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	line := 0
	fmt.Sscan(m[1], &line)
	detail := m[2]
	// For a broken indentation the YAML parser names the line of the block
	// it was in, often lines before the one at fault: point at that one.
	if strings.HasPrefix(detail, "did not find expected key") || strings.HasPrefix(detail, "did not find expected '-' indicator") {
		if bad, indent, levels := misindented(data, line); bad > 0 {
			return &ConfigError{Path: path, Line: bad, Msg: fmt.Sprintf("this line is indented %d spaces, which matches none of the blocks it could belong to (%s spaces); align it with the lines it goes with (%s)",
				indent, levels, detail)}
		}
	}
	if u := unknownKeyRE.FindStringSubmatch(detail); u != nil {
		detail = fmt.Sprintf("unknown key %q", u[1])
		if known, ok := knownKeys[u[2]]; ok {
			detail += " (known here: " + known + ")"
		} else {
			detail += "; see the schema in `jetway init`'s starter file"
		}
	}
	return &ConfigError{Path: path, Line: line, Msg: detail}
}

// misindented finds, from line from on (1-based), the first line that
// dedents to no open block: its indentation is less than the line's
// before it and equal to none of the blocks still open there. The YAML
// parser reports such a line at the start of the block it was in, lines
// before it. It returns 0 if there is none.
func misindented(data []byte, from int) (line, indent int, levels string) {
	var open []int // indentations of the open blocks, outermost first
	for i, text := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		n := len(text) - len(trimmed)
		if len(open) == 0 || n > open[len(open)-1] {
			open = append(open, n)
			continue
		}
		before := append([]int(nil), open...)
		for len(open) > 0 && open[len(open)-1] > n {
			open = open[:len(open)-1]
		}
		if len(open) > 0 && open[len(open)-1] == n {
			continue
		}
		if i+1 >= from {
			ls := make([]string, len(before))
			for j, b := range before {
				ls[j] = strconv.Itoa(b)
			}
			return i + 1, n, strings.Join(ls, ", ")
		}
		open = append(open, n)
	}
	return 0, 0, ""
}

// keyLines maps dotted key paths ("image.tags") to their lines.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return lines
	}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			lines[key] = n.Content[i].Line
			if v := n.Content[i+1]; v.Kind == yaml.SequenceNode {
				for j, item := range v.Content {
					lines[fmt.Sprintf("%s[%d]", key, j)] = item.Line
				}
			}
			walk(key, n.Content[i+1])
		}
	}
	walk("", doc.Content[0])
	return lines
}

// envNameRuleRE is what an environment name may be: it becomes part of
// parameter names (/#{ssm_env}/KEY), of an OIDC token's subject
// (project:P:env:E) and of audit entries, so no separators and no
// control characters.
var envNameRuleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// ValidEnvName checks an environment name (ssm_env, deploy's override).
func ValidEnvName(name string) error {
	if !envNameRuleRE.MatchString(name) {
		return fmt.Errorf("environment name %q: use up to 63 letters, digits, _ . and -, starting with a letter or digit", name)
	}
	return nil
}

// Env is the environment name for #{ssm_env}: the override, else the file's.
func (p *Project) Env(override string) string {
	if override != "" {
		return override
	}
	return p.SSMEnv
}

// References returns the run variables whose values are references, after
// #{ssm_env} expansion, keyed by variable name.
func (p *Project) References(env string) (map[string]Ref, error) {
	refs := map[string]Ref{}
	for _, v := range p.Vars {
		value := v.Value
		if envPlaceholder.MatchString(value) {
			if env == "" {
				return nil, &ConfigError{Path: p.Path, Line: v.Line, Msg: fmt.Sprintf("%s uses #{ssm_env}, but no environment is set: add `ssm_env: dev` or pass --ssm-env", v.key())}
			}
			value = ExpandEnv(value, env)
		}
		ref, ok, err := ParseRef(value)
		if err != nil {
			return nil, &ConfigError{Path: p.Path, Line: v.Line, Msg: fmt.Sprintf("%s: %v", v.key(), err)}
		}
		if ok {
			refs[v.Name] = ref
		}
	}
	return refs, nil
}

// Bounds of the variables given for one run.
const (
	MaxRunVars     = 100
	MaxRunVarValue = 32 << 10
)

// steering are the names no run variable given on the command line may
// take, reference or not: they steer jetway itself or the tools that hold
// a run's credentials (JETWAY_RUN_TOKEN, the ssh agent, docker's and git's
// credential helpers). Matched against the upper-cased name.
var steering = []string{"JETWAY_*", "SSH_AUTH_SOCK", "DOCKER_CONFIG", "GIT_ASKPASS"}

// RunVarError is a refused variable given for one run (-e NAME=VALUE).
type RunVarError struct {
	Name, Msg string
}

func (e *RunVarError) Error() string { return fmt.Sprintf("-e %s: %s", e.Name, e.Msg) }

// ParseRunVar splits one -e argument, NAME=VALUE.
func ParseRunVar(arg string) (name, value string, err error) {
	name, value, ok := strings.Cut(arg, "=")
	if !ok {
		return "", "", &RunVarError{Name: arg, Msg: "write NAME=VALUE or NAME=SSM:/path/to/parameter"}
	}
	return name, value, nil
}

// CheckRunVar tells whether NAME=VALUE may be given for one run of the
// project. The name must be a variable name that env.block does not
// block. Of the built-in block list, the names that steer jetway and the
// credential tools (JETWAY_*, SSH_AUTH_SOCK, DOCKER_CONFIG, GIT_ASKPASS)
// are refused outright; AWS_*, *_TOKEN, *_SECRET* and *_PASSWORD* only
// with a plain value: a value given on the command line is stored with
// the run, so a secret is given as a reference, which is resolved on the
// runner (-e DB_PASSWORD=SSM:/prod/DB_PASSWORD). A plain value whose name
// looks secret (LooksSecret) is masked in the log, so it must be long
// enough for the masker.
func (p *Project) CheckRunVar(name, value string) error {
	bad := func(format string, args ...any) error {
		return &RunVarError{Name: name, Msg: fmt.Sprintf(format, args...)}
	}
	if !envNameRE.MatchString(name) || len(name) > 256 {
		return bad("%q is not a variable name (letters, digits and _, not starting with a digit)", name)
	}
	for _, b := range compilePatterns(p.Block) {
		if b.match(name) {
			return bad("env.block of %s blocks this name", p.Path)
		}
	}
	if matchAnyGlob(steering, name) {
		return bad("jetway never gives a run this variable: it steers jetway itself or the tools that hold the run's credentials")
	}
	if strings.ContainsRune(value, 0) {
		return bad("the value holds a NUL byte, which no environment variable can")
	}
	if len(value) > MaxRunVarValue {
		return bad("the value is %d bytes; at most %d are allowed (store a larger one as a parameter and give SSM:/path)", len(value), MaxRunVarValue)
	}
	_, isRef, err := ParseRef(ExpandEnv(value, "env"))
	if err != nil {
		return bad("%v", err)
	}
	if isRef {
		return nil
	}
	if matchAnyGlob(builtinBlock, name) {
		return bad("a plain value would be stored with the run as it is; store it as a parameter (jetway params put /ENV/%s --type SecureString) and give -e %s=SSM:/ENV/%s", name, name, name)
	}
	if LooksSecret(name) && value != "" && len(value) < mask.MinSecretLen {
		return bad("the name looks secret, so the value is masked in the log, and the masker needs at least %d characters", mask.MinSecretLen)
	}
	return nil
}

// addRunVars checks the variables given for one run and sets them: a name
// of env.vars gets the new value in its place, a new name goes after them
// (in name order).
func (p *Project) addRunVars(vars map[string]string) error {
	if len(vars) > MaxRunVars {
		return &RunVarError{Name: "…", Msg: fmt.Sprintf("%d variables given for the run; at most %d are allowed", len(vars), MaxRunVars)}
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		value := vars[name]
		if err := p.CheckRunVar(name, value); err != nil {
			return err
		}
		v := Var{Name: name, Value: value, FromRun: true}
		if i := slices.IndexFunc(p.Vars, func(v Var) bool { return v.Name == name }); i >= 0 {
			p.Vars[i] = v
			continue
		}
		p.Vars = append(p.Vars, v)
	}
	return nil
}

// Masked is what a secret value is shown as.
const Masked = "[MASKED]"

// ShownVars is how the variables given for a run are shown (jetway runs
// show, the dashboard, the API): references as written, never resolved;
// plain values as given, but [MASKED] for a name that looks secret.
func ShownVars(vars map[string]string) map[string]string {
	if len(vars) == 0 {
		return nil
	}
	out := make(map[string]string, len(vars))
	for name, value := range vars {
		if _, isRef, _ := ParseRef(ExpandEnv(value, "env")); !isRef && LooksSecret(name) && value != "" {
			value = Masked
		}
		out[name] = value
	}
	return out
}

// MaxArtifactPatterns bounds the entries of artifacts:.
const MaxArtifactPatterns = 100

// parseArtifacts validates artifacts: workspace paths, slash-separated and
// relative, each segment a name or a path.Match glob; a final / asks for a
// directory.
func parseArtifacts(list []string, bad func(key, format string, args ...any) error) ([]string, error) {
	if len(list) > MaxArtifactPatterns {
		return nil, bad("artifacts", "artifacts: %d entries; at most %d are allowed (name directories: coverage/)", len(list), MaxArtifactPatterns)
	}
	var out []string
	for i, entry := range list {
		key := fmtIndex("artifacts", i)
		dir := strings.HasSuffix(entry, "/")
		clean := path.Clean(strings.TrimSuffix(entry, "/"))
		switch {
		case strings.TrimSpace(entry) == "":
			return nil, bad(key, "artifacts: an empty path; write a workspace path such as coverage/ or log/*.xml")
		case strings.HasPrefix(entry, "/"):
			return nil, bad(key, "artifacts: %q is absolute; artifacts are paths in the workspace, e.g. coverage/", entry)
		case clean == "." || clean == ".." || strings.HasPrefix(clean, "../"):
			return nil, bad(key, "artifacts: %q is not beneath the workspace; name a file or directory in it, e.g. coverage/", entry)
		case strings.ContainsRune(entry, 0) || strings.Contains(entry, "\\"):
			return nil, bad(key, "artifacts: %q holds a NUL or a backslash; use / between names", entry)
		}
		for _, seg := range strings.Split(clean, "/") {
			if _, err := path.Match(seg, ""); err != nil {
				return nil, bad(key, "artifacts: %q: %q is not a glob such as *.xml", entry, seg)
			}
		}
		if dir {
			clean += "/"
		}
		out = append(out, clean)
	}
	return out, nil
}
