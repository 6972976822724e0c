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
// as a Windows tool writes them).
func Render(rng *rand.Rand, secret []byte, kind int) Rendering {
	forms := mask.Forms(secret)
	switch kind {
	case Wrapped:
		return renderWrapped(rng, secret)
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
