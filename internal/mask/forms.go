package mask

import (
	"bytes"
	"encoding/base64"
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

// Forms returns every byte string that counts as an occurrence of secret:
// the raw value, its base64 and base64url encodings at each of the three
// byte alignments and wrapped as base64(1) and openssl wrap them, URL and
// JSON escapings, and each line of a multi-line value. Forms shorter than MinSecretLen are left out.
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
		// `base64 FILE` wraps at 76 columns and `openssl base64` at 64, so
		// a long secret's encoding never appears in one piece: mask each
		// wrapped line of it.
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
		s := string(v)
		for _, e := range []string{url.QueryEscape(s), url.PathEscape(s)} {
			add([]byte(e))
			add([]byte(lowerHexEscapes(e)))
		}
		for _, j := range jsonForms(s) {
			add([]byte(j))
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
