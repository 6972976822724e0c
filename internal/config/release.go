package config

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Release is a command run in the image just built and pushed, on the
// run's Docker host, as `docker run --rm IMAGE COMMAND` would: the image's
// entrypoint, if it has one, gets the words of the command. Only the run
// variables Env names reach it.
type Release struct {
	// Command is the command's words, split as a shell would split them
	// (quotes and backslashes; no variables, no globs).
	Command []string
	// Line is the line of release.command, for messages.
	Line int
	Env  []string
}

type rawRelease struct {
	Command yaml.Node `yaml:"command"`
	Env     []string  `yaml:"env"`
}

const releaseKeys = "command, env"

// parseRelease validates release:. It needs image: (the release runs in
// the image just built) and names in env that the run has: a run
// variable of env.vars or given for the run (-e, which Parse sets before
// it checks release:), or a name env.pass lets through.
func (p *Project) parseRelease(raw *rawRelease, bad func(key, format string, args ...any) error) (*Release, error) {
	rel := &Release{Env: raw.Env, Line: raw.Command.Line}
	if p.Image == nil {
		return nil, bad("release", "release: runs in the image the build phase builds, but there is no image: section; add one (image: {name: registry.example.com/%s, push: true})", p.Project)
	}
	switch raw.Command.Kind {
	case 0:
		return nil, bad("release", "release.command is missing; write for example `command: bin/rails db:migrate`")
	case yaml.ScalarNode:
		words, err := SplitWords(raw.Command.Value)
		if err != nil {
			return nil, bad("release.command", "release.command %q: %v", raw.Command.Value, err)
		}
		rel.Command = words
	case yaml.SequenceNode:
		for _, item := range raw.Command.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, bad("release.command", "release.command: a list of words must hold strings only")
			}
			rel.Command = append(rel.Command, item.Value)
		}
	default:
		return nil, bad("release.command", "release.command must be a string (bin/rails db:migrate) or a list of words")
	}
	if len(rel.Command) == 0 || rel.Command[0] == "" {
		return nil, bad("release.command", "release.command is empty; write for example `command: bin/rails db:migrate`")
	}
	pass, block := compilePatterns(p.Pass), compilePatterns(p.Block)
	seen := map[string]bool{}
	for i, name := range rel.Env {
		key := fmtIndex("release.env", i)
		if !envNameRE.MatchString(name) {
			return nil, bad(key, "release.env: %q is not a variable name (letters, digits, _)", name)
		}
		if seen[name] {
			return nil, bad(key, "release.env: %s is named twice", name)
		}
		seen[name] = true
		if !p.hasVar(name) && !passes(name, pass, block) {
			return nil, bad(key, "release.env: %s is neither a run variable (env.vars) nor passed from the deployer's environment (env.pass); add it to one of them, or give it for the run (jetway deploy -e %s=VALUE)", name, name)
		}
	}
	return rel, nil
}

func (p *Project) hasVar(name string) bool {
	for _, v := range p.Vars {
		if v.Name == name {
			return true
		}
	}
	return false
}

func fmtIndex(key string, i int) string { return fmt.Sprintf("%s[%d]", key, i) }

// SplitWords splits s into words as a POSIX shell would, without
// expansions: blanks separate words, single quotes keep everything,
// double quotes keep everything but \\ \" \$ \` escapes, and a backslash
// outside quotes escapes the next character.
func SplitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					cur.WriteByte(s[i])
				}
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("a single quote is not closed")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("a double quote is not closed")
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
