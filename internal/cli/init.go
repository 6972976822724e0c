package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/config"
)

func newInitCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented starter jetway.yaml",
		Long: `Write a commented starter jetway.yaml into DIR (default: the current
directory): the project name from the directory, the Dockerfile it finds,
and the remote Docker host variables, commented out, to fill in.

A project that used the Jets remote runner keeps its CodeBuild variables in
config/jets/*.rb (config.codebuild.project.env.vars = {...}): init carries
the literal ones (plain strings, SSM: and SECRET: references, #{ssm_env})
into env.vars, and lists on stderr, with file:line, those it could not
(other Ruby expressions, other interpolations), to set by hand.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			path := filepath.Join(dir, config.FileName)
			if _, err := os.Stat(path); err == nil && !force {
				return withExit(ExitFailed, fmt.Errorf("%s exists; use --force to replace it", path))
			}
			vars, skipped, err := jetsVars(dir)
			if err != nil {
				return withExit(ExitFailed, err)
			}
			content := starterFile(dir, vars)
			if _, err := config.Parse(path, []byte(content)); err != nil {
				return fmt.Errorf("the starter file does not validate (a bug): %w", err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				return withExit(ExitFailed, err)
			}
			if len(vars) > 0 {
				fmt.Fprintf(c.Err, "carried over from config/jets: %d variable(s) into env.vars\n", len(vars))
			}
			if len(skipped) > 0 {
				fmt.Fprintf(c.Err, "not carried over from config/jets (set them in %s by hand):\n", config.FileName)
				for _, s := range skipped {
					fmt.Fprintf(c.Err, "  %s\n", s)
				}
			}
			fmt.Fprintf(c.Out, "wrote %s; edit it, then run `jetway run %s`\n", path, dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing jetway.yaml")
	return cmd
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

func starterFile(dir string, vars []jetsVar) string {
	abs, _ := filepath.Abs(dir)
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-")
	if name == "" {
		name = "app"
	}
	dockerfile := ""
	for _, candidate := range []string{"Dockerfile", "docker/Dockerfile", "Containerfile"} {
		if _, err := os.Stat(filepath.Join(dir, candidate)); err == nil {
			dockerfile = candidate
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# jetway project file: see 'jetway run --help'.
project: %s
ssm_env: dev                  # what #{ssm_env} expands to; --ssm-env overrides

env:
  vars:
`, name)
	hasHost := false
	for _, v := range vars {
		hasHost = hasHost || v.name == "DOCKER_HOST"
	}
	if !hasHost {
		b.WriteString(`    # A persistent remote Docker host keeps the layer cache between runs.
    # Store the key and the host key first:
    #   jetway params put /dev/JETS_SSH_KEY --type SecureString --value-file ~/.ssh/id_rsa
    #   ssh-keyscan -H -t rsa docker.internal | jetway params put /dev/JETS_SSH_KNOWN --type SecureString
    # DOCKER_HOST: ssh://ubuntu@docker.internal
    # JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    # JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN
    # Registry login (to DOCKER_REGISTRY, else image.name's registry, else Docker Hub):
    # DOCKER_USER: deploybot
    # DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
`)
	}
	if len(vars) == 0 {
		b.WriteString("    APP_ENV: production\n")
	}
	for _, v := range vars {
		fmt.Fprintf(&b, "    %s: %s # %s\n", v.name, strconv.Quote(v.value), v.from)
	}
	if dockerfile != "" {
		fmt.Fprintf(&b, `
image:
  name: registry.example.com/%s   # where push: true sends it
  tags: [latest]                  # templates: {{.GitSHA}}, {{.Branch}}, {{.RunID}}
  dockerfile: %s
  push: false
`, name, dockerfile)
	} else {
		b.WriteString("\n# image:                      # no Dockerfile found; add one to build an image\n#   name: registry.example.com/" + name + "\n")
	}
	b.WriteString(`
phases:                         # shell commands, run in the workspace
  install: []
  pre_build: []
  build: []                     # the image build runs first in this phase
  post_build: []

# hooks:                        # phases of their own; also executables in .jetway/hooks/NAME
#   before_build: [./scripts/check]   # after_build, before_release, after_release too
# release:                      # runs in the image just built and pushed (needs image:)
#   command: bin/rails db:migrate
#   env: [DATABASE_URL]         # run variables it gets (of env.vars or env.pass)

timeout: 60m
`)
	return b.String()
}

// Reading config/jets. The Jets remote runner's projects keep their
// CodeBuild variables in Ruby (config/jets/bootstrap.rb and friends):
//
//	config.codebuild.project.env.vars = {
//	  DOCKER_HOST: "ssh://ubuntu@docker.myhost.com",
//	  JETS_SSH_KEY: "SSM:/#{ssm_env}/JETS_SSH_KEY",
//	}
//
// What init carries over is the literal part of that: hash literals and
// vars[KEY] = assignments whose values are strings (interpolating only
// #{ssm_env}, which jetway expands itself) or integers. That is a small
// subset of Ruby, read here by hand: no Ruby parser written in Go is worth
// a dependency for it, and evaluating the file is out of the question.
// Everything else that sets these variables is listed, with its line, for
// the user to carry over by hand.

// jetsVar is a variable carried over from config/jets.
type jetsVar struct {
	name, value string
	from        string // file:line
}

// jetsVarsRE finds where a file sets the CodeBuild variables.
var (
	jetsVarsRE    = regexp.MustCompile(`\bcodebuild\.project\.env\.vars\b`)
	jetsAssignRE  = regexp.MustCompile(`^\s*=\s*\{`)
	jetsElemRE    = regexp.MustCompile(`^\[\s*(:[A-Za-z_]\w*|"[^"\\#]*"|'[^'\\]*')\s*\]\s*=[^=]`)
	jetsIntRE     = regexp.MustCompile(`^-?[0-9][0-9_]*$`)
	jetsSsmEnvRE  = regexp.MustCompile(`#\{\s*ssm_env\s*\}`)
	jetsVarNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// jetsVars reads the CodeBuild variables of DIR/config/jets/*.rb: those it
// can carry over, and a line for each it cannot.
func jetsVars(dir string) (vars []jetsVar, skipped []string, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "config", "jets", "*.rb"))
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", file, err)
		}
		rel, _ := filepath.Rel(dir, file)
		found, notes := parseJetsVars(string(data))
		for _, n := range notes {
			skipped = append(skipped, fmt.Sprintf("%s:%d: %s", rel, n.line, n.text))
		}
		for _, v := range found {
			from := fmt.Sprintf("%s:%d", rel, v.line)
			switch {
			case !jetsVarNameRE.MatchString(v.name):
				skipped = append(skipped, fmt.Sprintf("%s: %q is not a variable name jetway takes (letters, digits, _)", from, v.name))
			case seen[v.name] != "":
				skipped = append(skipped, fmt.Sprintf("%s: %s is set again; the value of %s is kept", from, v.name, seen[v.name]))
			default:
				if _, _, err := config.ParseRef(config.ExpandEnv(v.value, "env")); err != nil {
					skipped = append(skipped, fmt.Sprintf("%s: %s: %v", from, v.name, err))
					continue
				}
				seen[v.name] = from
				vars = append(vars, jetsVar{name: v.name, value: v.value, from: from})
			}
		}
	}
	return vars, skipped, nil
}

type rubyVar struct {
	name, value string
	line        int
}

type rubyNote struct {
	line int
	text string
}

// parseJetsVars finds the CodeBuild variables set in a Ruby file.
func parseJetsVars(src string) (vars []rubyVar, notes []rubyNote) {
	for _, m := range jetsVarsRE.FindAllStringIndex(src, -1) {
		line := 1 + strings.Count(src[:m[0]], "\n")
		if commentedOut(src, m[0]) {
			continue
		}
		rest := src[m[1]:]
		switch {
		case jetsAssignRE.MatchString(rest):
			open := strings.IndexByte(rest, '{')
			found, more := parseRubyHash(rest[open+1:], line+strings.Count(rest[:open], "\n"))
			vars = append(vars, found...)
			notes = append(notes, more...)
		case jetsElemRE.MatchString(rest):
			m := jetsElemRE.FindStringSubmatch(rest)
			key := strings.Trim(strings.TrimPrefix(m[1], ":"), `"'`)
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			expr := strings.TrimSpace(stripComment(rest[len(m[0])-1 : end]))
			if v, why := rubyLiteral(expr); why == "" {
				vars = append(vars, rubyVar{name: key, value: v, line: line})
			} else {
				notes = append(notes, rubyNote{line, fmt.Sprintf("%s: %s %s", key, oneLine(expr), why)})
			}
		default:
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			notes = append(notes, rubyNote{line, fmt.Sprintf("codebuild.project.env.vars%s: only `= { KEY: \"value\", ... }` and `[:KEY] = \"value\"` are read", oneLine(rest[:end]))})
		}
	}
	return vars, notes
}

// commentedOut tells whether the position i of src is in a # comment.
func commentedOut(src string, i int) bool {
	start := strings.LastIndexByte(src[:i], '\n') + 1
	return strings.Contains(src[start:i], "#")
}

// stripComment cuts a trailing # comment that is outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == '#':
			return s[:i]
		}
	}
	return s
}

// parseRubyHash reads the entries of a hash literal whose body starts at
// src (after its '{'), at line, up to the matching '}'.
func parseRubyHash(src string, line int) (vars []rubyVar, notes []rubyNote) {
	entries, unclosed := splitRubyEntries(src, line)
	for _, e := range entries {
		key, expr, ok := rubyEntry(e.text)
		if !ok {
			notes = append(notes, rubyNote{e.line, fmt.Sprintf("%s: not a KEY: value or \"KEY\" => value entry", oneLine(e.text))})
			continue
		}
		if v, why := rubyLiteral(expr); why == "" {
			vars = append(vars, rubyVar{name: key, value: v, line: e.line})
		} else {
			notes = append(notes, rubyNote{e.line, fmt.Sprintf("%s: %s %s", key, oneLine(expr), why)})
		}
	}
	if unclosed {
		notes = append(notes, rubyNote{line, "the hash of codebuild.project.env.vars does not end (no matching })"})
	}
	return vars, notes
}

type rubyEntryText struct {
	text string
	line int
}

// splitRubyEntries cuts a hash body at its top-level commas, dropping
// comments, up to the '}' that closes it.
func splitRubyEntries(src string, line int) (entries []rubyEntryText, unclosed bool) {
	var cur strings.Builder
	curLine := 0
	depth := 0
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" {
			entries = append(entries, rubyEntryText{t, curLine})
		}
		cur.Reset()
		curLine = 0
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if curLine == 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',' && c != '#' && c != '}' {
			curLine = line
		}
		switch {
		case c == '\n':
			line++
			cur.WriteByte(' ')
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case c == '"' || c == '\'':
			j := rubyStringEnd(src, i)
			if j < 0 {
				cur.WriteString(src[i:])
				flush()
				return entries, true
			}
			line += strings.Count(src[i:j], "\n")
			cur.WriteString(src[i:j])
			i = j - 1
		case c == '{' || c == '(' || c == '[':
			depth++
			cur.WriteByte(c)
		case (c == '}' || c == ')' || c == ']') && depth > 0:
			depth--
			cur.WriteByte(c)
		case c == '}':
			flush()
			return entries, false
		case c == ',' && depth == 0:
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return entries, true
}

// rubyStringEnd returns the index just after the string literal that
// opens at src[i], or -1 if it does not end.
func rubyStringEnd(src string, i int) int {
	quote := src[i]
	depth := 0 // of #{ } in a double-quoted string
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; {
		case c == '\\':
			j++
		case quote == '"' && c == '#' && j+1 < len(src) && src[j+1] == '{':
			depth++
			j++
		case depth > 0 && c == '}':
			depth--
		case depth == 0 && c == quote:
			return j + 1
		}
	}
	return -1
}

// rubyEntry splits `KEY: expr`, `"KEY": expr`, `"KEY" => expr` or
// `:KEY => expr`.
func rubyEntry(s string) (key, expr string, ok bool) {
	if k, v, found := strings.Cut(s, "=>"); found {
		k = strings.TrimSpace(k)
		switch {
		case strings.HasPrefix(k, ":") && jetsVarNameRE.MatchString(k[1:]):
			return k[1:], strings.TrimSpace(v), true
		case len(k) >= 2 && (k[0] == '"' || k[0] == '\'') && k[len(k)-1] == k[0] && !strings.ContainsAny(k[1:len(k)-1], "\\#"+k[:1]):
			return k[1 : len(k)-1], strings.TrimSpace(v), true
		}
		return "", "", false
	}
	if k, v, found := strings.Cut(s, ":"); found && jetsVarNameRE.MatchString(k) && strings.HasPrefix(v, " ") {
		return k, strings.TrimSpace(v), true
	}
	if len(s) > 2 && (s[0] == '"' || s[0] == '\'') {
		if end := rubyStringEnd(s, 0); end > 0 && end < len(s) && s[end] == ':' {
			k := s[1 : end-1]
			if !strings.ContainsAny(k, "\\#") {
				return k, strings.TrimSpace(s[end+1:]), true
			}
		}
	}
	return "", "", false
}

// rubyLiteral is the value of a literal string or integer expression; why
// says why expr is not one.
func rubyLiteral(expr string) (value, why string) {
	if jetsIntRE.MatchString(expr) {
		return strings.ReplaceAll(expr, "_", ""), ""
	}
	if len(expr) < 2 || (expr[0] != '"' && expr[0] != '\'') || rubyStringEnd(expr, 0) != len(expr) {
		return "", "is not a literal string (a Ruby expression, evaluated by Jets, that jetway cannot)"
	}
	body := expr[1 : len(expr)-1]
	if expr[0] == '\'' {
		// Only \\ and \' are escapes in single quotes.
		return strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(body), ""
	}
	// #{ssm_env} stays: jetway expands it itself. Any other interpolation
	// is Ruby to evaluate.
	rest := jetsSsmEnvRE.ReplaceAllString(body, "")
	if strings.Contains(rest, "#{") {
		return "", "interpolates Ruby (only #{ssm_env} is carried over, as jetway expands it)"
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 == len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 's':
			b.WriteByte(' ')
		case 'r', 'u', 'x', 'e', '0', 'a', 'b', 'f', 'v', 'c', 'C', 'M':
			return "", "uses an escape sequence jetway does not carry over"
		default:
			b.WriteByte(body[i]) // \" \\ \# and the like: the character
		}
	}
	return b.String(), ""
}

// oneLine shortens s to one line of at most 60 characters, for a message.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
