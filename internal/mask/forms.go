package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
)

// MinSecretLen is the shortest secret the masker accepts: shorter ones
// would blank ordinary words all over the log.
const MinSecretLen = 4

// minLineLen is the shortest line of a multi-line secret that is masked on
// its own, so fragments such as "-----" do not blank the log.
const minLineLen = 8

// minHexRun is the fewest bytes of a secret whose hex a dump line must
// show for the masker to find them there (all of a shorter secret): 64
// bits that cannot turn up by chance in other dumps, and what a dump line
// of 16 bytes shows of a secret at worst (8 on one side of hexdump -C's
// gap). Fewer bytes at the start or end of a line (a secret's first or
// last few) show in dumps split by spaces.
const minHexRun = 8

// Forms returns every byte string that counts as an occurrence of secret,
// as the package documentation lists them. Forms made only of base64
// characters and '=' are also found with line breaks inside (see the
// package documentation); that is the Matcher's doing, not a form. Forms
// shorter than MinSecretLen are left out.
func Forms(secret []byte) [][]byte {
	var forms [][]byte
	seen := map[string]bool{}
	add := func(f []byte) {
		if len(f) >= MinSecretLen && !seen[string(f)] {
			seen[string(f)] = true
			forms = append(forms, f)
		}
	}
	values := [][]byte{secret}
	if t := bytes.TrimSpace(secret); len(t) != len(secret) {
		values = append(values, t)
	}
	for _, v := range values {
		add(v)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			// Whole encodings as `base64` and `echo $S | base64` print them.
			add([]byte(enc.EncodeToString(v)))
			add([]byte(enc.EncodeToString(append(append([]byte{}, v...), '\n'))))
			for align := range 3 {
				add(stableBase64(enc, v, align))
			}
		}
		// `base64 FILE | head` and `openssl base64 | head` print only the
		// first lines of a long encoding, never the whole of it: mask each
		// line of it at their default widths.
		for _, width := range []int{76, 64} {
			for _, src := range [][]byte{v, append(append([]byte{}, v...), '\n')} {
				encoded := base64.StdEncoding.EncodeToString(src)
				for start := 0; len(encoded) > width && start < len(encoded); start += width {
					if line := encoded[start:min(start+width, len(encoded))]; len(line) >= minLineLen {
						add([]byte(line))
					}
				}
			}
		}
		for _, e := range append(urlForms(v), percentEncodeAll(v)) {
			add([]byte(e))
			add([]byte(lowerHexEscapes(e)))
		}
		for _, h := range hexForms(v) {
			add(h)
		}
		for _, j := range jsonForms(string(v)) {
			add([]byte(j))
		}
		for _, h := range htmlForms(string(v)) {
			add([]byte(h))
		}
	}
	if bytes.ContainsAny(secret, "\r\n") {
		for _, line := range bytes.FieldsFunc(secret, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if len(line) >= minLineLen {
				add(line)
			}
		}
	}
	return forms
}

// stableBase64 encodes secret as if it stood at byte offset align (0-2) of
// a longer blob, and keeps only the characters whose six bits all come from
// the secret: the part that is the same whatever surrounds it.
func stableBase64(enc *base64.Encoding, secret []byte, align int) []byte {
	buf := make([]byte, align+len(secret)+2)
	copy(buf[align:], secret)
	encoded := enc.EncodeToString(buf)
	startBit, endBit := 8*align, 8*(align+len(secret))
	first := (startBit + 5) / 6
	last := endBit / 6 // exclusive
	if last <= first {
		return nil
	}
	return []byte(encoded[first:last])
}

// urlForms is v percent-encoded as the common encoders write it. They all
// keep the unreserved characters of RFC 3986 (A-Z a-z 0-9 - . _ ~) and
// differ in what else they keep and in how they write a space.
func urlForms(v []byte) []string {
	return []string{
		// Go url.QueryEscape, Python quote_plus: space as '+'.
		percentEncode(v, "", true),
		// Go url.PathEscape.
		url.PathEscape(string(v)),
		// RFC 3986 unreserved only: .NET Uri.EscapeDataString (GitHub's
		// UriDataEscape), curl --data-urlencode, Python quote(s, safe='').
		percentEncode(v, "", false),
		// Python quote(s): keeps '/'.
		percentEncode(v, "/", false),
		// JavaScript encodeURIComponent and encodeURI.
		percentEncode(v, "!'()*", false),
		percentEncode(v, "!#$&'()*+,/:;=?@", false),
	}
}

// percentEncodeAll writes every byte of v as %XX, as URL builders that
// escape everything do.
func percentEncodeAll(v []byte) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, 3*len(v))
	for _, c := range v {
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// hexForms is what hex dumps print of v, in pieces that one line of a
// dump shows (minHexRun bytes or more; all of a shorter v):
//   - v's hex and each of its prefixes, in both cases, as xxd -p prints
//     it: being base64 characters, these are also found across the line
//     breaks of xxd -p, so a whole dump is masked line by line, and one
//     cut short by head as far as it goes; a prefix costs the automaton
//     no state, as it lies on the path of the whole;
//   - every run of minHexRun bytes as bytes split by spaces (od -t x1),
//     which covers each line of od and the groups of 8 of hexdump -C;
//   - what a line of hexdump -C shows where v starts or ends next to its
//     two-space gap, after the first or before the last 8 bytes (a line
//     that shows 8 bytes of v on both sides of the gap is masked group
//     by group), and what its text column shows (dumpTextForms).
//
// Every run of minHexRun bytes as contiguous hex would cover xxd -p lines
// cut out of the middle of a dump too, but would cost as many states
// again as all other forms of v together.
func hexForms(v []byte) [][]byte {
	spaced := func(b []byte) []byte {
		out := make([]byte, 0, 3*len(b))
		for i, c := range b {
			if i > 0 {
				out = append(out, ' ')
			}
			out = hex.AppendEncode(out, []byte{c})
		}
		return out
	}
	run := min(minHexRun, len(v))
	var forms [][]byte
	lower := hex.EncodeToString(v)
	upper := strings.ToUpper(lower)
	for n := 2 * run; n <= len(lower); n += 2 {
		forms = append(forms, []byte(lower[:n]), []byte(upper[:n]))
	}
	for i := 0; i+run <= len(v); i++ {
		forms = append(forms, spaced(v[i:i+run]))
	}
	const group = 8 // bytes on each side of hexdump -C's gap
	for gap := 1; gap < len(v); gap++ {
		before, after := v[max(0, gap-group):gap], v[gap:min(len(v), gap+group)]
		if (len(before) < group || len(after) < group) && len(before)+len(after) >= run {
			forms = append(forms, append(append(spaced(before), "  "...), spaced(after)...))
		}
	}
	return append(forms, dumpTextForms(v, run)...)
}

// dumpTextForms is what the text column of hexdump -C shows of v, 16
// bytes a line between '|', other bytes than ' ' to '~' as '.': where v
// starts (before the closing '|'), ends (after the opening one), fills a
// line, or lies whole. A piece counts if it shows at least run of v's
// bytes as they are, so a binary v does not mask lines of dots.
func dumpTextForms(v []byte, run int) [][]byte {
	const width = 16
	text := make([]byte, len(v))
	shown := make([]int, len(v)+1) // shown[i]: bytes of v[:i] printed as they are
	for i, c := range v {
		text[i], shown[i+1] = c, shown[i]+1
		if c < ' ' || c > '~' {
			text[i], shown[i+1] = '.', shown[i]
		}
	}
	var forms [][]byte
	piece := func(i, j int, open, close bool) {
		if shown[j]-shown[i] < run {
			return
		}
		var f []byte
		if open {
			f = append(f, '|')
		}
		f = append(f, text[i:j]...)
		if close {
			f = append(f, '|')
		}
		forms = append(forms, f)
	}
	if !bytes.Equal(text, v) {
		piece(0, len(v), false, false)
	}
	for k := 1; k < width && k <= len(v); k++ {
		piece(0, k, false, true)
		piece(len(v)-k, len(v), true, false)
	}
	for i := 0; i+width <= len(v); i++ {
		piece(i, i+width, true, true)
	}
	return forms
}

// percentEncode writes every byte of v as %XX except the unreserved
// characters and those in keep; a space becomes '+' if plusSpace.
func percentEncode(v []byte, keep string, plusSpace bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range v {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', strings.IndexByte(keep, c) >= 0:
			b.WriteByte(c)
		case c == ' ' && plusSpace:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// lowerHexEscapes rewrites %2F as %2f: some encoders use lower-case hex.
func lowerHexEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteByte('%')
			b.WriteString(strings.ToLower(s[i+1 : i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// jsonForms is s inside a JSON string: as Go's encoder writes it (\u003c,
// \u003e, \u0026), minimally escaped, and with "/" written as "\/".
func jsonForms(s string) []string {
	goForm, _ := json.Marshal(s)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	minimal := strings.TrimSuffix(buf.String(), "\n")
	unquote := func(q string) string { return q[1 : len(q)-1] }
	m := unquote(minimal)
	return []string{unquote(string(goForm)), m, strings.ReplaceAll(m, "/", `\/`)}
}

// htmlForms is s escaped for HTML or XML text. All escapers write &amp;,
// &lt; and &gt;; they differ in the quotes.
func htmlForms(s string) []string {
	dialects := []struct{ quot, apos, plus string }{
		// Python html.escape(s, quote=False), xml.sax.saxutils.escape.
		{`"`, "'", "+"},
		// Python html.escape.
		{"&quot;", "&#x27;", "+"},
		// Go html.EscapeString and text/template, Jinja (markupsafe).
		{"&#34;", "&#39;", "+"},
		// Go html/template.
		{"&#34;", "&#39;", "&#43;"},
		// XML: .NET SecurityElement.Escape (GitHub's XmlDataEscape), PHP
		// htmlspecialchars with ENT_HTML5, Java's escapeXml.
		{"&quot;", "&apos;", "+"},
		// Ruby CGI.escapeHTML, Rails, lodash _.escape.
		{"&quot;", "&#39;", "+"},
		// PHP htmlspecialchars (ENT_QUOTES, the default since PHP 8.1).
		{"&quot;", "&#039;", "+"},
	}
	if !strings.ContainsAny(s, `&<>"'+`) {
		return nil
	}
	var out []string
	for _, d := range dialects {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '&':
				b.WriteString("&amp;")
			case '<':
				b.WriteString("&lt;")
			case '>':
				b.WriteString("&gt;")
			case '"':
				b.WriteString(d.quot)
			case '\'':
				b.WriteString(d.apos)
			case '+':
				b.WriteString(d.plus)
			default:
				b.WriteByte(s[i])
			}
		}
		out = append(out, b.String())
	}
	return out
}
