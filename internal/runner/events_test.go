package runner

import (
	"strings"
	"testing"
)

// TestLineWriterCutsLongLines writes each input in chunks of every size
// up to a few bytes, so a cut that depends on where writes end shows.
func TestLineWriterCutsLongLines(t *testing.T) {
	type piece struct {
		msg       string
		continued bool
	}
	tests := []struct {
		name  string
		max   int
		input string
		want  []piece
	}{
		{"short lines", 8, "a\nbb\n", []piece{{"a", false}, {"bb", false}}},
		{"exactly max", 4, "abcd\nx\n", []piece{{"abcd", false}, {"x", false}}},
		{"one over", 4, "abcde\nx\n", []piece{{"abcd", true}, {"e", false}, {"x", false}}},
		{"many pieces", 3, "abcdefghij\nafter\n", []piece{{"abc", true}, {"def", true}, {"ghi", true}, {"j", false}, {"aft", true}, {"er", false}}},
		{"partial line flushed", 4, "abcdefg", []piece{{"abcd", true}, {"efg", false}}},
		{"runes are not split", 5, "aaaa€b\n", []piece{{"aaaa", true}, {"€b", false}}},
		{"empty line", 4, "\n\n", []piece{{"", false}, {"", false}}},
	}
	for _, tt := range tests {
		for size := 1; size <= len(tt.input); size++ {
			var got []piece
			w := &lineWriter{max: tt.max, emit: func(e Event) {
				if e.Type != "log" {
					t.Fatalf("event type %q", e.Type)
				}
				got = append(got, piece{e.Message, e.Continued})
			}}
			for in := tt.input; in != ""; {
				n := min(size, len(in))
				if m, err := w.Write([]byte(in[:n])); m != n || err != nil {
					t.Fatalf("Write = %d, %v", m, err)
				}
				in = in[n:]
			}
			w.Flush()
			if len(got) != len(tt.want) {
				t.Fatalf("%s, writes of %d: got %+v, want %+v", tt.name, size, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("%s, writes of %d: piece %d = %+v, want %+v", tt.name, size, i, got[i], tt.want[i])
				}
			}
		}
	}
}

// TestLineWriterHugeLine: a 70 MB line in one write comes out in pieces of
// at most MaxLineBytes that join to the line, the line after it comes out
// whole, and the writer does not keep the big buffer.
func TestLineWriterHugeLine(t *testing.T) {
	var lines []string
	var line strings.Builder
	longest := 0
	w := &lineWriter{emit: func(e Event) {
		longest = max(longest, len(e.Message))
		line.WriteString(e.Message)
		if !e.Continued {
			lines = append(lines, line.String())
			line.Reset()
		}
	}}
	huge := strings.Repeat("0123456789", 7<<20)
	_, _ = w.Write([]byte(huge + "\nafter\n"))
	if longest > MaxLineBytes {
		t.Errorf("a piece of %d bytes, the limit is %d", longest, MaxLineBytes)
	}
	if len(lines) != 2 || lines[0] != huge || lines[1] != "after" {
		t.Errorf("got %d lines (first %d bytes), want the huge line and \"after\"", len(lines), len(lines[0]))
	}
	if cap(w.buf) > 4*MaxLineBytes {
		t.Errorf("the writer keeps a buffer of %d bytes after the line ended", cap(w.buf))
	}
}
