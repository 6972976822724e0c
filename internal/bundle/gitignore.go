package bundle

import (
	"bytes"
	"path"
	"strings"
)

// gitPattern is one line of a .gitignore (or .git/info/exclude), as git's
// dir.c parses it.
type gitPattern struct {
	pattern  string // without '!', the trailing '/' and a leading '/'
	base     string // the directory of the file it came from, "" at the root
	negate   bool
	dirOnly  bool // it ended with '/'
	basename bool // it has no '/' (but a trailing one): it matches names at any depth
}

// parseGitignore parses the content of an ignore file in the directory base
// (slash-separated, "" for the root) with git's rules: '#' comments, blank
// lines, trailing spaces unless escaped with '\', a leading '!' negates,
// a trailing '/' matches directories only, and a pattern with a '/'
// elsewhere is anchored to base.
func parseGitignore(data []byte, base string) []gitPattern {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM, as git skips it
	var out []gitPattern
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		line = trimTrailingSpaces(line)
		if line == "" {
			continue
		}
		p := gitPattern{base: base}
		if line[0] == '!' {
			p.negate = true
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			p.dirOnly = true
			line = strings.TrimSuffix(line, "/")
		}
		p.basename = !strings.Contains(line, "/")
		line = strings.TrimPrefix(line, "/")
		if line == "" {
			continue
		}
		p.pattern = line
		out = append(out, p)
	}
	return out
}

// trimTrailingSpaces drops the spaces that end a line, but not one escaped
// with a backslash (git's trim_trailing_spaces: tabs stay).
func trimTrailingSpaces(s string) string {
	end := len(s)
	for end > 0 && s[end-1] == ' ' {
		// An odd run of backslashes before the space escapes it.
		n := 0
		for i := end - 2; i >= 0 && s[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		end--
	}
	return s[:end]
}

// matches tells whether the pattern matches rel (slash-separated, relative
// to the tree's root and beneath p.base), a directory if isDir.
func (p gitPattern) matches(rel string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	if p.base != "" {
		if !strings.HasPrefix(rel, p.base+"/") {
			return false
		}
		rel = rel[len(p.base)+1:]
	}
	if p.basename {
		return wildmatch(p.pattern, path.Base(rel))
	}
	return wildmatch(p.pattern, rel)
}

// gitExcluded applies patterns in order of increasing precedence (the last
// match wins) to rel.
func gitExcluded(patterns []gitPattern, rel string, isDir bool) (excluded, matched bool) {
	for i := len(patterns) - 1; i >= 0; i-- {
		if patterns[i].matches(rel, isDir) {
			return !patterns[i].negate, true
		}
	}
	return false, false
}

// wildmatch results, as in git's wildmatch.c.
const (
	wmMatch = iota
	wmNoMatch
	wmAbortAll
	wmAbortToStarStar
)

// wildmatch matches text against a gitignore glob the way git's wildmatch
// does with WM_PATHNAME: '*' and '?' and classes never match '/', "**"
// between slashes (or at either end) matches any number of directories,
// classes take '!' or '^' for negation, ranges and [:name:], and '\'
// escapes the next character.
func wildmatch(pattern, text string) bool {
	return dowild(pattern, 0, text) == wmMatch
}

// dowild is git's dowild over pattern[pi:] and text. It needs the whole
// pattern to tell whether a "**" starts at a path component.
func dowild(pattern string, pi int, text string) int {
	ti := 0
	for ; pi < len(pattern); pi, ti = pi+1, ti+1 {
		pc := pattern[pi]
		if ti >= len(text) && pc != '*' {
			return wmAbortAll
		}
		var tc byte
		if ti < len(text) {
			tc = text[ti]
		}
		switch pc {
		case '\\':
			// The next character literally; a trailing '\' matches nothing.
			pi++
			if pi >= len(pattern) || tc != pattern[pi] {
				return wmNoMatch
			}
		case '?':
			if tc == '/' {
				return wmNoMatch
			}
		case '*':
			pi++
			matchSlash := false
			if pi < len(pattern) && pattern[pi] == '*' {
				prev := pi - 2
				for pi < len(pattern) && pattern[pi] == '*' {
					pi++
				}
				if (prev < 0 || pattern[prev] == '/') &&
					(pi == len(pattern) || pattern[pi] == '/' || (pattern[pi] == '\\' && pi+1 < len(pattern) && pattern[pi+1] == '/')) {
					// "**/" may match no directory at all: foo/**/bar
					// matches foo/bar.
					if pi < len(pattern) && pattern[pi] == '/' && dowild(pattern, pi+1, text[ti:]) == wmMatch {
						return wmMatch
					}
					matchSlash = true
				}
			}
			if pi == len(pattern) {
				// A trailing "**" matches everything; a trailing '*' only
				// what has no '/' left.
				if !matchSlash && strings.IndexByte(text[ti:], '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && pattern[pi] == '/' {
				// One '*' then '/': the rest of this path component.
				slash := strings.IndexByte(text[ti:], '/')
				if slash < 0 {
					return wmNoMatch
				}
				ti += slash
				// The slash is matched by the loop's next round.
				continue
			}
			for ; ti < len(text); ti++ {
				m := dowild(pattern, pi, text[ti:])
				if m != wmNoMatch {
					if !matchSlash || m != wmAbortToStarStar {
						return m
					}
				} else if !matchSlash && text[ti] == '/' {
					return wmAbortToStarStar
				}
			}
			return wmAbortAll
		case '[':
			var ok bool
			var res int
			pi, ok, res = matchClass(pattern, pi, tc)
			if res != 0 {
				return res
			}
			if !ok || tc == '/' {
				return wmNoMatch
			}
		default:
			if tc != pc {
				return wmNoMatch
			}
		}
	}
	if ti < len(text) {
		return wmNoMatch
	}
	return wmMatch
}

// matchClass matches tc against the class that opens at pattern[pi] ('[').
// It returns the index of the class's closing ']', whether tc is in the
// class (negation applied), and wmAbortAll for a class that never closes.
func matchClass(pattern string, pi int, tc byte) (end int, ok bool, res int) {
	at := func(i int) byte {
		if i < len(pattern) {
			return pattern[i]
		}
		return 0
	}
	pi++
	pc := at(pi)
	if pc == '^' {
		pc = '!'
	}
	negated := pc == '!'
	if negated {
		pi++
		pc = at(pi)
	}
	var prev byte
	matched := false
	for {
		if pc == 0 {
			return pi, false, wmAbortAll
		}
		switch {
		case pc == '\\':
			pi++
			pc = at(pi)
			if pc == 0 {
				return pi, false, wmAbortAll
			}
			if tc == pc {
				matched = true
			}
		case pc == '-' && prev != 0 && at(pi+1) != 0 && at(pi+1) != ']':
			pi++
			pc = at(pi)
			if pc == '\\' {
				pi++
				pc = at(pi)
				if pc == 0 {
					return pi, false, wmAbortAll
				}
			}
			if tc <= pc && tc >= prev {
				matched = true
			}
			pc = 0 // no range starts at a range's end
		case pc == '[' && at(pi+1) == ':':
			start := pi + 2
			j := start
			for at(j) != 0 && at(j) != ']' {
				j++
			}
			if at(j) == 0 {
				return j, false, wmAbortAll
			}
			if j-start-1 < 0 || pattern[j-1] != ':' {
				// No ":]": a plain '['.
				if tc == '[' {
					matched = true
				}
				pc = '['
				break
			}
			pi = j
			in, known := charClass(pattern[start:j-1], tc)
			if !known {
				return pi, false, wmAbortAll
			}
			if in {
				matched = true
			}
			pc = 0
		default:
			if tc == pc {
				matched = true
			}
		}
		prev = pc
		pi++
		pc = at(pi)
		if pc == ']' {
			break
		}
	}
	return pi, matched != negated, 0
}

// charClass tells whether c is in the POSIX class name (ASCII only, as git).
func charClass(name string, c byte) (in, known bool) {
	isUpper := c >= 'A' && c <= 'Z'
	isLower := c >= 'a' && c <= 'z'
	isDigit := c >= '0' && c <= '9'
	isAlpha := isUpper || isLower
	isPrint := c >= 0x20 && c < 0x7f
	isSpace := c == ' ' || (c >= '\t' && c <= '\r')
	switch name {
	case "alnum":
		return isAlpha || isDigit, true
	case "alpha":
		return isAlpha, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return isDigit, true
	case "graph":
		return isPrint && c != ' ', true
	case "lower":
		return isLower, true
	case "print":
		return isPrint, true
	case "punct":
		return isPrint && c != ' ' && !isAlpha && !isDigit, true
	case "space":
		return isSpace, true
	case "upper":
		return isUpper, true
	case "xdigit":
		return isDigit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'), true
	}
	return false, false
}
