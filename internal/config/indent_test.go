package config

import (
	"errors"
	"strings"
	"testing"
)

// A line indented to no block is reported at that line, not at the start
// of the block the YAML parser was in; other errors keep the parser's line.
func TestIndentationErrorsNameTheirLine(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		msg        string
	}{
		{"a key", "project: demo\nenv:\n  vars:\n    A: 1\n   B: 2\nphases:\n  build: [echo]\n", 5, "indented 3 spaces, which matches none of the blocks it could belong to (0, 2, 4 spaces)"},
		{"a list item", "project: demo\nphases:\n  build:\n    - echo a\n   - echo b\n", 5, "indented 3 spaces"},
		{"after comments and blank lines", "project: demo\n\n# vars\nenv:\n  vars:\n    A: 1\n\n # a comment anywhere\n   B: 2\n", 9, "indented 3 spaces"},
		{"a flow list", "project: demo\nenv:\n  vars:\n    A: 1\n    B: [1\nphases:\n  build: [echo]\n", 0, "did not find expected ',' or ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWithVars(FileName, []byte(tc.file), nil)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%v, want a ConfigError", err)
			}
			if tc.line != 0 && ce.Line != tc.line {
				t.Errorf("line %d, want %d: %v", ce.Line, tc.line, err)
			}
			if !strings.Contains(ce.Msg, tc.msg) {
				t.Errorf("message %q lacks %q", ce.Msg, tc.msg)
			}
		})
	}
}
