package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Environment passing. env.pass lists which of the deployer's environment
// variables reach the phases; env.block lists which never do. Both take
// plain names (MY_API_TOKEN), globs (BUNDLE_*) and regular expressions
// between slashes (/^NPM_CONFIG_.*$/ or /NPM_CONFIG_.*/: either way the
// expression must match the whole name).
//
// Whatever the patterns say, builtinBlock is never passed unless pass
// names the variable exactly: a deployer's JETWAY_TOKEN or AWS keys must
// not reach code that anyone who can push runs, because `pass: ["*"]`
// looked convenient.

// builtinBlock are the names no glob or regular expression can pass. They
// are matched against the upper-cased name, since a lower-case
// github_token is as secret as GITHUB_TOKEN.
var builtinBlock = append(slices.Clip(steering), "AWS_*", "*_TOKEN", "*_SECRET*", "*_PASSWORD*")

// secretLooking are the names whose passed values the runner masks in the
// log, matched against the upper-cased name. The list is wider than
// builtinBlock, which must stay narrow enough not to surprise, but not as
// wide as *PASS* or *KEY*: the masker blanks a secret's value wherever it
// appears, so BYPASS_CACHE=true or KEYBOARD=us would blank ordinary words
// all over the log (or, being under the masker's minimum length, fail the
// run).
var secretLooking = []string{
	"*TOKEN", "*_TOKEN_*", "*SECRET*", "*PASSWORD*", "*PASSWD*", "*PASSPHRASE*", "*_PASS",
	"*_KEY", "*APIKEY*", "*API_KEY*", "*PRIVATE_KEY*", "*CREDENTIAL*", "*_AUTH", "*_DSN",
}

// namePattern is one entry of env.pass or env.block.
type namePattern struct {
	// exact is set when the entry is a plain name, with no glob
	// characters: only such an entry can pass a built-in blocked name.
	exact string
	glob  string
	re    *regexp.Regexp
}

// parseNamePattern reads a pass or block entry: /regexp/, a glob, or a
// plain name.
func parseNamePattern(s string) (namePattern, error) {
	switch {
	case s == "":
		return namePattern{}, errors.New("an empty pattern matches nothing")
	case len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/"):
		expr := s[1 : len(s)-1]
		if expr == "" {
			return namePattern{}, errors.New("the regular expression between the slashes is empty")
		}
		// Checked alone first, so that an error quotes what the user wrote.
		if _, err := regexp.Compile(expr); err != nil {
			return namePattern{}, fmt.Errorf("not a regular expression: %w", err)
		}
		// Anchored: /TOKEN/ must not pass every name that contains TOKEN.
		re, err := regexp.Compile(`^(?:` + expr + `)$`)
		if err != nil {
			return namePattern{}, fmt.Errorf("not a regular expression: %w", err)
		}
		return namePattern{re: re}, nil
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/"):
		return namePattern{}, errors.New("a regular expression is written between two slashes, e.g. /^NPM_.*$/; a name or glob has none")
	case !strings.ContainsAny(s, `*?[\`):
		return namePattern{exact: s}, nil
	}
	if _, err := filepath.Match(s, "X"); err != nil {
		return namePattern{}, fmt.Errorf("not a glob such as BUNDLE_*: %w", err)
	}
	return namePattern{glob: s}, nil
}

func (p namePattern) match(name string) bool {
	switch {
	case p.exact != "":
		return name == p.exact
	case p.re != nil:
		return p.re.MatchString(name)
	}
	m, _ := filepath.Match(p.glob, name)
	return m
}

// matchAnyGlob tells whether the upper-cased name matches one of globs.
func matchAnyGlob(globs []string, name string) bool {
	upper := strings.ToUpper(name)
	for _, g := range globs {
		if m, _ := filepath.Match(g, upper); m {
			return true
		}
	}
	return false
}

// LooksSecret tells whether a variable's name suggests a secret value
// (*TOKEN, *SECRET*, *PASSWORD*, *_KEY, …; see secretLooking), in any case.
func LooksSecret(name string) bool {
	return matchAnyGlob(secretLooking, name)
}

// compilePatterns parses entries that Parse already validated; an entry
// that does not parse matches nothing.
func compilePatterns(entries []string) []namePattern {
	var out []namePattern
	for _, e := range entries {
		if p, err := parseNamePattern(e); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// PassEnv picks from clientEnv ("K=V" pairs, the deployer's environment)
// the variables the phases get: those env.pass matches, except those
// env.block matches, and except the built-in blocked names (JETWAY_*,
// AWS_*, SSH_AUTH_SOCK, DOCKER_CONFIG, GIT_ASKPASS, *_TOKEN, *_SECRET*,
// *_PASSWORD*) unless env.pass names them exactly. secretNames are the
// passed names that look secret (LooksSecret), sorted: their values
// belong in the log masker. Of a name set twice the last value counts,
// as in exec.Cmd.
func (p *Project) PassEnv(clientEnv []string) (passed map[string]string, secretNames []string) {
	pass, block := compilePatterns(p.Pass), compilePatterns(p.Block)
	passed = map[string]string{}
	for _, kv := range clientEnv {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if passes(name, pass, block) {
			passed[name] = value
		}
	}
	for name := range passed {
		if LooksSecret(name) {
			secretNames = append(secretNames, name)
		}
	}
	sort.Strings(secretNames)
	return passed, secretNames
}

func passes(name string, pass, block []namePattern) bool {
	for _, b := range block {
		if b.match(name) {
			return false
		}
	}
	byPattern := false
	for _, p := range pass {
		if p.exact == name {
			return true
		}
		byPattern = byPattern || (p.exact == "" && p.match(name))
	}
	return byPattern && !matchAnyGlob(builtinBlock, name)
}
