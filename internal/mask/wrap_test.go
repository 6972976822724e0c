package mask_test

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
)

const wrapSecret = "s3cr3t-t0ken/value+with=chars"

// TestWrappedBase64 encodes a blob with a secret inside at every byte
// alignment, wraps it at several widths with "\n" and "\r\n", and masks it
// in one write, one byte at a time and cut in two at every offset: every
// character that depends on the secret alone must be masked, every line
// kept, nothing that depends on the rest alone masked.
func TestWrappedBase64(t *testing.T) {
	long := strings.Repeat("0123456789abcdef-long/secret+", 10)
	type tc struct {
		secret string
		prefix int
		width  int
		eol    string
		enc    *base64.Encoding
	}
	var cases []tc
	for _, prefix := range []int{0, 1, 2, 45, 46, 47} {
		for _, width := range []int{16, 17, 33, 64, 76} {
			for _, eol := range []string{"\n", "\r\n"} {
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
					cases = append(cases, tc{wrapSecret, prefix, width, eol, enc})
				}
			}
		}
	}
	cases = append(cases, tc{long, 7, 16, "\n", base64.StdEncoding}, tc{long, 8, 16, "\r\n", base64.StdEncoding})
	for _, c := range cases {
		name := fmt.Sprintf("len=%d/prefix=%d/width=%d/eol=%q/url=%v", len(c.secret), c.prefix, c.width, c.eol, c.enc == base64.URLEncoding)
		t.Run(name, func(t *testing.T) {
			m := mustCompile(t, c.secret)
			blob := strings.Repeat("0", c.prefix) + c.secret + " and the bytes after it"
			text := wrap(c.enc.EncodeToString([]byte(blob)), c.width, c.eol)
			want := maskInWrites(t, m, text, []int{len(text)})
			checkWrapped(t, text, want, c.eol, c.width, c.prefix, len(c.secret))
			for _, writes := range cuts(len(text)) {
				if got := maskInWrites(t, m, text, writes); got != want {
					t.Fatalf("writes of %v bytes: got\n%s\nwant\n%s", writes, got, want)
				}
			}
		})
	}
}

// TestToolOutputs masks what base64, openssl and Python print for the
// secret in testdata/tools (gen.sh makes them), as the issue reproduced
// the leak: printf '%045d%s' 0 "$SECRET" | base64.
func TestToolOutputs(t *testing.T) {
	secret := readFile(t, "testdata/tools/secret.txt")
	m := mustCompile(t, secret)
	files, _ := filepath.Glob("testdata/tools/*-4[567].txt")
	if len(files) != 15 {
		t.Fatalf("%d tool outputs in testdata/tools, want 15: run gen.sh", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			text := readFile(t, file)
			var tool string
			var offset, width int
			eol := "\n"
			if _, err := fmt.Sscanf(filepath.Base(file), "openssl-%d.txt", &offset); err == nil {
				width = 64
			} else if _, err := fmt.Sscanf(strings.Replace(filepath.Base(file), "crlf-", "", 1), "%6s-w%d-%d.txt", &tool, &width, &offset); err != nil {
				t.Fatalf("unexpected name: %v", err)
			}
			if strings.Contains(file, "crlf") {
				eol = "\r\n"
			}
			// The file is what its name says.
			decoded, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(text, eol, ""))
			if err != nil || string(decoded) != strings.Repeat("0", offset)+secret {
				t.Fatalf("%s does not decode to %d zeros and the secret (%v): regenerate it", file, offset, err)
			}
			want := maskInWrites(t, m, text, []int{len(text)})
			checkWrapped(t, text, want, eol, width, offset, len(secret))
			for _, writes := range cuts(len(text)) {
				if got := maskInWrites(t, m, text, writes); got != want {
					t.Fatalf("writes of %v bytes: got\n%s\nwant\n%s", writes, got, want)
				}
			}
		})
	}
	// Python's URL and HTML escapers: each line is "name: output".
	for _, line := range strings.Split(strings.TrimSuffix(readFile(t, "testdata/tools/python.txt"), "\n"), "\n") {
		name, _, _ := strings.Cut(line, ": ")
		t.Run(name, func(t *testing.T) {
			want := name + ": " + mask.Replacement + "\n"
			for _, writes := range cuts(len(line) + 1) {
				if got := maskInWrites(t, m, line+"\n", writes); got != want {
					t.Fatalf("writes of %v bytes: masked %q\n got %q\nwant %q", writes, line, got, want)
				}
			}
		})
	}
}

// wrap breaks s into lines of width characters, each ended by eol, as
// base64 -w prints it.
func wrap(s string, width int, eol string) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + eol)
		s = s[width:]
	}
	return b.String() + s + eol
}

// checkWrapped checks the masking of text, base64 of a blob with a
// secret of n bytes at byte offset off, wrapped at width with eol: the
// lines are kept, each has at most one Replacement, every character whose
// bits all come from the secret is masked, and no character before them
// or more than three after them (the last partial character and padding)
// is masked.
func checkWrapped(t *testing.T, text, masked, eol string, width, off, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, eol), eol)
	got := strings.Split(strings.TrimSuffix(masked, eol), eol)
	if len(lines) != len(got) || !strings.HasSuffix(masked, eol) {
		t.Fatalf("the lines changed:\n%s\nbecame\n%s", text, masked)
	}
	var hidden []bool // per character of the encoding
	for i, line := range lines {
		if got[i] == line {
			hidden = append(hidden, make([]bool, len(line))...)
			continue
		}
		before, after, _ := strings.Cut(got[i], mask.Replacement)
		if strings.Count(got[i], mask.Replacement) != 1 || !strings.HasPrefix(line, before) || !strings.HasSuffix(line, after) || len(before)+len(after) >= len(line) {
			t.Fatalf("line %d %q became %q", i, line, got[i])
		}
		for j := range line {
			hidden = append(hidden, j >= len(before) && j < len(line)-len(after))
		}
		if i < len(lines)-1 && len(line) != width {
			t.Fatalf("line %d is %d characters wide, want %d", i, len(line), width)
		}
	}
	first, last := (8*off+5)/6, 8*(off+n)/6
	for c, h := range hidden {
		switch {
		case c >= first && c < last && !h:
			t.Fatalf("character %d of the secret's encoding (%d-%d) shows:\n%s", c, first, last, masked)
		case (c < first || c >= last+3) && h:
			t.Fatalf("character %d, outside the secret's encoding (%d-%d), is masked:\n%s", c, first, last, masked)
		}
	}
}
