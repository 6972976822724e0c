// Package masktest is a slow, obvious model of package mask, for tests of
// mask itself and of the writers around it: Mask says what a masked
// stream must be, Render prints secrets the ways programs do.
//
//	in, must := ..., masktest.Render(rng, secret, masktest.Wrapped)
//	want := masktest.Mask(forms, in)
//	if !bytes.Equal(got, want.Out) || !want.Covers(must) { ... }
package masktest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/jetway-dev/jetway/internal/mask"
)

// Result is the model's masking of one stream.
type Result struct {
	Out   []byte // the masked stream
	Spans []Span // the masked parts of the input: sorted, disjoint
}

// Span is a half-open range of input offsets.
type Span struct{ Start, End int }

// Mask masks in as a whole, by mask's rules: every occurrence of every
// form is masked; a form made only of base64 characters and '=' also
// where line breaks ("\n", "\r\n") come between its characters, each
// after a line that ends with at least mask.MinWrapLine base64
// characters; occurrences that overlap are masked as one; a masked span
// keeps its line breaks and each run of other bytes in it becomes one
// mask.Replacement.
func Mask(forms [][]byte, in []byte) Result {
	var found []Span
	for _, f := range forms {
		wrap := wrappable(f)
		for start := 0; start < len(in); start++ {
			// Skip to where f's first byte is: the model is slow enough.
			i := bytes.IndexByte(in[start:], f[0])
			if i < 0 {
				break
			}
			start += i
			if end := matchAt(in, start, f, wrap); end >= 0 {
				found = append(found, Span{start, end})
			}
		}
	}
	slices.SortFunc(found, func(a, b Span) int { return cmp.Compare(a.Start, b.Start) })
	var r Result
	for _, s := range found {
		if n := len(r.Spans); n > 0 && s.Start < r.Spans[n-1].End {
			r.Spans[n-1].End = max(r.Spans[n-1].End, s.End)
			continue
		}
		r.Spans = append(r.Spans, s)
	}
	last := 0
	for _, s := range r.Spans {
		r.Out = append(r.Out, in[last:s.Start]...)
		r.Out = append(r.Out, render(in[s.Start:s.End])...)
		last = s.End
	}
	r.Out = append(r.Out, in[last:]...)
	return r
}

// matchAt returns where form f ends if it occurs at in[start:], or -1.
func matchAt(in []byte, start int, f []byte, wrap bool) int {
	i := start
	for j, c := range f {
		if j > 0 && wrap && base64Before(in, i) >= mask.MinWrapLine {
			if bytes.HasPrefix(in[i:], []byte("\n")) {
				i++
			} else if bytes.HasPrefix(in[i:], []byte("\r\n")) {
				i += 2
			}
		}
		if i >= len(in) || in[i] != c {
			return -1
		}
		i++
	}
	return i
}

// render is the masked text of a span: its line breaks, and a Replacement
// for every run of other bytes.
func render(text []byte) []byte {
	var out []byte
	pending := false
	flush := func() {
		if pending {
			out = append(out, mask.Replacement...)
			pending = false
		}
	}
	for i := 0; i < len(text); i++ {
		switch {
		case text[i] == '\n':
			flush()
			out = append(out, '\n')
		case text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n':
			flush()
			out = append(out, "\r\n"...)
			i++
		default:
			pending = true
		}
	}
	flush()
	return out
}

// Kept returns the parts of in outside every masked span: what the
// masked stream shows of the input.
func (r Result) Kept(in []byte) [][]byte {
	var kept [][]byte
	last := 0
	for _, s := range r.Spans {
		kept = append(kept, in[last:s.Start])
		last = s.End
	}
	return append(kept, in[last:])
}

// Covers tells whether every byte of s is masked.
func (r Result) Covers(s Span) bool {
	if s.Start >= s.End {
		return true
	}
	for _, m := range r.Spans {
		if m.Start <= s.Start && s.End <= m.End {
			return true
		}
	}
	return false
}

func isBase64(b byte) bool {
	return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '+' || b == '/' || b == '-' || b == '_'
}

func wrappable(f []byte) bool {
	for _, b := range f {
		if !isBase64(b) && b != '=' {
			return false
		}
	}
	return true
}

// base64Before counts the base64 characters right before in[i].
func base64Before(in []byte, i int) int {
	n := 0
	for i > 0 && isBase64(in[i-1]) {
		n++
		i--
	}
	return n
}

// Kinds of Render.
const (
	Form      = iota // one of mask.Forms
	Wrapped          // base64 of the secret inside other bytes, wrapped
	Truncated        // the start of a form that never completes
	Dumped           // a hex dump of bytes that hold the secret
	Kinds            // the number of kinds
)

// Rendering is text that a program might print for a secret; Must is the
// part of it that shows the secret, which masking must cover.
type Rendering struct {
	Text []byte
	Must Span
}

// Render prints secret as kind says, with rng choosing the details:
// which form; for Wrapped, the bytes around the secret (so every
// alignment comes up), the alphabet (base64 or base64url), the width (16
// to 100 characters, as base64 -w N) and the line ends ("\n", or "\r\n"
// as a Windows tool writes them); for Dumped, the bytes around the
// secret, the program and its width.
func Render(rng *rand.Rand, secret []byte, kind int) Rendering {
	forms := mask.Forms(secret)
	switch kind {
	case Wrapped:
		return renderWrapped(rng, secret)
	case Dumped:
		return renderDump(rng, secret)
	case Truncated:
		f := forms[rng.IntN(len(forms))]
		return Rendering{Text: f[:rng.IntN(len(f))]}
	default:
		f := forms[rng.IntN(len(forms))]
		return Rendering{Text: f, Must: Span{0, len(f)}}
	}
}

func renderWrapped(rng *rand.Rand, secret []byte) Rendering {
	blob := randomBytes(rng, rng.IntN(50))
	before := len(blob)
	blob = append(blob, secret...)
	blob = append(blob, randomBytes(rng, rng.IntN(20))...)
	enc := base64.StdEncoding
	if rng.IntN(4) == 0 {
		enc = base64.URLEncoding
	}
	encoded := enc.EncodeToString(blob)
	width := mask.MinWrapLine + rng.IntN(85)
	eol := "\n"
	if rng.IntN(4) == 0 {
		eol = "\r\n"
	}
	var text []byte
	at := func(c int) int { return c/width*(width+len(eol)) + c%width } // text offset of encoded[c]
	for c := 0; c < len(encoded); c += width {
		text = append(text, encoded[c:min(c+width, len(encoded))]...)
		text = append(text, eol...)
	}
	// The characters whose six bits all come from the secret.
	first := (8*before + 5) / 6
	last := 8 * (before + len(secret)) / 6
	if last <= first {
		return Rendering{Text: text}
	}
	return Rendering{Text: text, Must: Span{at(first), at(last-1) + 1}}
}

// renderDump prints bytes that hold secret as xxd -p (-c 8 to 40, -u or
// not, whole or cut short as head cuts it), od -A n -t x1 (-w 8 to 32) or
// hexdump -C print them. Must is the secret's hex as far as xxd -p shows
// it (8 bytes or more), else the first line that shows 8 of its bytes or
// more (all of a shorter secret): on a line of hexdump -C that shows 8
// on each side of the gap, the first 8.
func renderDump(rng *rand.Rand, secret []byte) Rendering {
	blob := randomBytes(rng, rng.IntN(40))
	off, n := len(blob), len(secret)
	blob = append(blob, secret...)
	blob = append(blob, randomBytes(rng, rng.IntN(20))...)
	const digits = "0123456789abcdef"
	var (
		text  []byte
		must  Span
		width int
		col   func(j int) int // column of the j-th byte of a line
	)
	minRun := min(8, n)
	switch rng.IntN(3) {
	case 0: // xxd -p
		width = 8 + rng.IntN(33)
		cut := len(blob)
		if rng.IntN(4) == 0 { // | head -n N
			cut = min(cut, width*(1+rng.IntN((len(blob)+width-1)/width)))
		}
		at := func(i int) int { return i/width*(2*width+1) + 2*(i%width) } // text offset of byte i
		upper := rng.IntN(2) == 0
		for i, c := range blob[:cut] {
			if upper {
				text = append(text, bytes.ToUpper([]byte{digits[c>>4], digits[c&15]})...)
			} else {
				text = append(text, digits[c>>4], digits[c&15])
			}
			if i%width == width-1 || i == cut-1 {
				text = append(text, '\n')
			}
		}
		if shown := min(off+n, cut) - off; shown >= minRun {
			must = Span{at(off), at(off+shown-1) + 2}
		}
		return Rendering{Text: text, Must: must}
	case 1: // od -A n -t x1 -w W
		width = 8 + rng.IntN(25)
		col = func(j int) int { return 3*j + 1 }
	default: // hexdump -C
		width = 16
		col = func(j int) int { return 10 + 3*j + j/8 }
	}
	hexdump := col(8) == 35
	for l := 0; l*width < len(blob); l++ {
		line := blob[l*width : min(len(blob), (l+1)*width)]
		start := len(text)
		if hexdump {
			text = fmt.Appendf(text, "%08x  ", l*width)
		}
		for j, c := range line {
			if hexdump {
				text = append(text, digits[c>>4], digits[c&15], ' ')
				if j == 7 {
					text = append(text, ' ')
				}
			} else {
				text = append(text, ' ', digits[c>>4], digits[c&15])
			}
		}
		if hexdump {
			for len(text)-start < 60 {
				text = append(text, ' ')
			}
			text = append(text, '|')
			for _, c := range line {
				if c < ' ' || c > '~' {
					c = '.'
				}
				text = append(text, c)
			}
			text = append(text, '|')
		}
		text = append(text, '\n')
		a, b := max(off, l*width), min(off+n, (l+1)*width) // the secret's bytes on the line
		if must.End == 0 && b-a >= minRun {
			if hexdump && b-a == 16 {
				b = a + 8
			}
			must = Span{start + col(a-l*width), start + col(b-1-l*width) + 2}
		}
	}
	return Rendering{Text: text, Must: must}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// Secret returns a random secret of mask.MinSecretLen to 60 bytes: random
// bytes mixed with characters that the forms escape, sometimes with a
// line break at the end, as a value read from a file has.
func Secret(rng *rand.Rand) []byte {
	const special = "abc/+=\n\r\"'\\<>&% xyz0123"
	v := make([]byte, mask.MinSecretLen+rng.IntN(57))
	for i := range v {
		if rng.IntN(2) == 0 {
			v[i] = byte(rng.IntN(256))
		} else {
			v[i] = special[rng.IntN(len(special))]
		}
	}
	if rng.IntN(5) == 0 {
		v = append(v, '\n')
	}
	return v
}
