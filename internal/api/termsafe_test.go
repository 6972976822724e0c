package api

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

var termCases = []struct {
	name, in, want string
}{
	{"text", "hello, world\n", "hello, world\n"},
	{"tab and UTF-8", "a\tb héllo € 😀\n", "a\tb héllo € 😀\n"},
	{"SGR colours", "\x1b[32mgreen\x1b[0m \x1b[1;31mbold red\x1b[m\n", "\x1b[32mgreen\x1b[0m \x1b[1;31mbold red\x1b[m\n"},
	{"SGR true colour", "\x1b[38;2;255;0;0;48:5:17mx\x1b[0m", "\x1b[38;2;255;0;0;48:5:17mx\x1b[0m"},
	{"OSC 52 clipboard write, BEL", "a\x1b]52;c;cm0gLXJmIH4K\x07b\n", "ab\n"},
	{"OSC 52 clipboard write, ST", "a\x1b]52;c;cm0gLXJmIH4K\x1b\\b\n", "ab\n"},
	{"OSC 0 and 2 window title", "\x1b]0;pwned\x07\x1b]2;pwned\x1b\\ok\n", "ok\n"},
	{"OSC 8 hyperlink", "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\\n", "click\n"},
	{"OSC without an end stops at the line's end", "x\x1b]0;title and more\nnext line\n", "x\nnext line\n"},
	{"cursor movement and erase", "\x1b[2J\x1b[H\x1b[3A\x1b[10;20H\x1b[2K\x1b[1Ktext\x1b[K\n", "text\n"},
	{"private modes", "\x1b[?1049h\x1b[?25l\x1b[?2004hx\n", "x\n"},
	{"CSI with intermediates", "\x1b[0 q\x1b[1 mx", "x"},
	{"CSI that looks like SGR but is not", "\x1b[>4;2m\x1b[?1mx", "x"},
	{"device status report", "\x1b[6n\x1b[c\x1b[21tx", "x"},
	{"CSI with a huge parameter list", "\x1b[" + strings.Repeat("1;", 100000) + "1m" + "after\n", "after\n"},
	{"CSI with a huge parameter list, not SGR", "\x1b[" + strings.Repeat("9", 100000) + "H" + "after\n", "after\n"},
	{"DCS sixel and DECRQSS", "a\x1bPq#0;2;0;0;0#0~~@@vv\x1b\\b\x1bP$qm\x1b\\c\n", "abc\n"},
	{"APC, PM and SOS", "a\x1b_Gf=100;AAAA\x1b\\b\x1b^secret\x1b\\c\x1bXsos\x1b\\d", "abcd"},
	{"CAN and SUB cancel a string", "a\x1b]0;t\x18b\x1b]0;t\x1ac", "abc"},
	{"two-byte escapes", "\x1bc\x1b7\x1b8\x1bM\x1b=\x1b>x", "x"},
	{"character set switches", "\x1b(0lqqk\x1b(B\x1b)0x", "lqqkx"},
	{"C0 controls", "a\rb\bc\x07d\x00e\x7ff\x0eg\x0fh\x05i\x1cj\n", "abcdefghij\n"},
	{"CR LF", "one\r\ntwo\r\n", "one\ntwo\n"},
	{"ESC ESC", "\x1b\x1b[31mred", "\x1b[31mred"},
	{"a CSI cut by a line feed", "\x1b[3\n1mx", "\n1mx"},
	{"C1 CSI in UTF-8", "a\u009b2Jb\u009b31mred\n", "ab\x1b[31mred\n"},
	{"C1 OSC and ST in UTF-8", "a\u009d0;title\u009cb\u0090q\u009cc\n", "abc\n"},
	{"other C1 controls in UTF-8", "a\u0085b\u0084c\u008ed", "abcd"},
	{"lone 8-bit C1 CSI", "a\x9b2Jb\x9d52;c;eA==\x07c", "abc"},
	{"UTF-8 characters with bytes 0x80-0x9F", "\u20ac\u0100\u2019\n", "\u20ac\u0100\u2019\n"},
	{"invalid UTF-8 is passed as is", "\xff\xfe\xc3(\xa0\n", "\xff\xfe\xc3(\xa0\n"},
	{"a lone 0xC2 at the end", "a\xc2", "a\xc2"},
	{"unfinished at the end", "text\x1b[31", "text"},
}

func filterAll(t *testing.T, writes ...string) string {
	t.Helper()
	var out bytes.Buffer
	tw := NewTermWriter(&out)
	for _, w := range writes {
		n, err := tw.Write([]byte(w))
		if n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestTermWriter(t *testing.T) {
	for _, tc := range termCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := filterAll(t, tc.in); got != tc.want {
				t.Errorf("got %q, want %q", shorten(got), shorten(tc.want))
			}
			// The same cut into two writes at every point (at some points
			// of the long cases).
			step := max(1, len(tc.in)/200)
			for i := 0; i <= len(tc.in); i += step {
				if got := filterAll(t, tc.in[:i], tc.in[i:]); got != tc.want {
					t.Fatalf("cut at %d: got %q, want %q", i, shorten(got), shorten(tc.want))
				}
			}
		})
	}
}

// Log lines reach the writer one event at a time: a sequence begun in one
// line and ended in the next goes as a whole, and a colour cut in two is
// kept.
func TestTermWriterAcrossLogLines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"clipboard write", []string{"line one \x1b]52;c;", "ZXZpbCBjb21tYW5k\x07 line two\n"}, "line one  line two\n"},
		{"colour", []string{"\x1b[3", "1mred\x1b[", "0m\n"}, "\x1b[31mred\x1b[0m\n"},
		{"C1 in UTF-8", []string{"a\xc2", "\x9b2Jb\n"}, "ab\n"},
		{"title in three pieces", []string{"\x1b", "]2;ti", "tle\x1b", "\\done\n"}, "done\n"},
		{"a character cut in two", []string{"\xe2\x82", "\xac\n"}, "€\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := filterAll(t, tc.writes...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTermSafe(t *testing.T) {
	if got := TermSafe("phase build failed\x1b]0;x\x07: exit 1\x1b[2J"); got != "phase build failed: exit 1" {
		t.Errorf("TermSafe: %q", got)
	}
}

// unsafeOutput matches what a TermWriter must never write: an ESC that
// does not start a whole SGR, a control other than tab and line feed, a
// C1 control in UTF-8.
var unsafeOutput = regexp.MustCompile(`\x1b(?:$|[^\[]|\[[0-9;:]*(?:$|[^0-9;:m]))|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f\x{80}-\x{9f}]`)

func FuzzTermWriter(f *testing.F) {
	for _, tc := range termCases {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in), uint(len(tc.in)/2))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint) {
		whole := filterAll(t, string(in))
		i := int(cut % uint(len(in)+1))
		if split := filterAll(t, string(in[:i]), string(in[i:])); split != whole {
			t.Fatalf("cut at %d: %q, whole: %q", i, split, whole)
		}
		if m := unsafeOutput.FindString(whole); m != "" {
			t.Fatalf("%q passed %q", in, m)
		}
	})
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:40] + "…" + s[len(s)-40:]
	}
	return s
}
