package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	htmltemplate "html/template"
	"net/url"
	"strings"
	"testing"
	"text/template"
)

func mustCompile(t testing.TB, secrets ...string) *Matcher {
	t.Helper()
	var ss []Secret
	for i, s := range secrets {
		ss = append(ss, Secret{Name: fmt.Sprintf("S%d", i), Value: []byte(s)})
	}
	m, err := Compile(ss)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMaskForms(t *testing.T) {
	const secret = `p@ss/w<o>rd&"quote"\x`
	const quoted = `it's "a" <b>&c+d`
	const pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBnZW5lcmF0ZWQ\n-----END OPENSSH PRIVATE KEY-----\n"
	goJSON, _ := json.Marshal(secret)
	tests := []struct {
		name, secret, in, want string
	}{
		{"raw", secret, "pw=" + secret + ".", "pw=[MASKED]."},
		{"twice", secret, secret + " " + secret, "[MASKED] [MASKED]"},
		{"base64", secret, "b64 " + base64.StdEncoding.EncodeToString([]byte(secret)) + " end", "b64 [MASKED] end"},
		{"base64 of echo output", secret, base64.StdEncoding.EncodeToString([]byte(secret + "\n")), "[MASKED]"},
		{"base64url", secret, base64.URLEncoding.EncodeToString([]byte(secret)), "[MASKED]"},
		{"url query", secret, "?p=" + url.QueryEscape(secret) + "&x=1", "?p=[MASKED]&x=1"},
		{"url path", secret, "/u/" + url.PathEscape(secret) + "/", "/u/[MASKED]/"},
		{"url lower-case hex", secret, strings.ToLower(url.QueryEscape(secret)), "[MASKED]"},
		{"url every byte", secret, "?p=%70%40%73%73%2F%77%3C%6F%3E%72%64%26%22%71%75%6F%74%65%22%5C%78&x", "?p=[MASKED]&x"},
		{"url every byte, lower-case hex", secret, "?p=%70%40%73%73%2f%77%3c%6f%3e%72%64%26%22%71%75%6f%74%65%22%5c%78&x", "?p=[MASKED]&x"},
		{"hex", secret, "key=" + hex.EncodeToString([]byte(secret)) + ";", "key=[MASKED];"},
		{"hex upper-case", secret, "KEY=" + strings.ToUpper(hex.EncodeToString([]byte(secret))) + ";", "KEY=[MASKED];"},
		{"hex bytes split by spaces", secret, "[70 40 73 73 2f 77 3c 6f 3e 72]", "[[MASKED]]"},
		{"hex: fewer than 8 bytes stay", secret, "70 40 73 73 2f 77 3c, 7040737", "70 40 73 73 2f 77 3c, 7040737"},
		{"hex of a short secret", "abcd", "61626364 61 62 63 64 61 62  63 64", "[MASKED] [MASKED] [MASKED]"},
		{"json go", secret, `{"p":` + string(goJSON) + `}`, `{"p":"[MASKED]"}`},
		{"json minimal", secret, `{"p":"p@ss/w<o>rd&\"quote\"\\x"}`, `{"p":"[MASKED]"}`},
		{"json escaped slash", secret, `{"p":"p@ss\/w<o>rd&\"quote\"\\x"}`, `{"p":"[MASKED]"}`},
		// quoted has both quotes, a space and a '+': the escapers differ there.
		{"html Go html.EscapeString", quoted, "<p>" + html.EscapeString(quoted) + "</p>", "<p>[MASKED]</p>"},
		{"html Go text/template", quoted, "<p>" + template.HTMLEscapeString(quoted) + "</p>", "<p>[MASKED]</p>"},
		{"html Go html/template", quoted, htmlTemplate(t, "<p>{{.}}</p>", quoted), "<p>[MASKED]</p>"},
		{"xml Go EscapeText", quoted, "<v>" + xmlEscape(quoted) + "</v>", "<v>[MASKED]</v>"},
		{"html Python html.escape", quoted, "<p>it&#x27;s &quot;a&quot; &lt;b&gt;&amp;c+d</p>", "<p>[MASKED]</p>"},
		{"html Python quote=False", quoted, "<p>it's \"a\" &lt;b&gt;&amp;c+d</p>", "<p>[MASKED]</p>"},
		{"xml .NET SecurityElement.Escape", quoted, "<v>it&apos;s &quot;a&quot; &lt;b&gt;&amp;c+d</v>", "<v>[MASKED]</v>"},
		{"html Ruby CGI.escapeHTML", quoted, "it&#39;s &quot;a&quot; &lt;b&gt;&amp;c+d", "[MASKED]"},
		{"html PHP htmlspecialchars", quoted, "it&#039;s &quot;a&quot; &lt;b&gt;&amp;c+d", "[MASKED]"},
		{"url Go QueryEscape (Python quote_plus)", quoted, "?q=" + url.QueryEscape(quoted), "?q=[MASKED]"},
		{"url RFC 3986 (.NET, curl --data-urlencode)", quoted, "?q=it%27s%20%22a%22%20%3Cb%3E%26c%2Bd", "?q=[MASKED]"},
		{"url Python quote keeps /", secret, "/u/p%40ss/w%3Co%3Erd%26%22quote%22%5Cx/", "/u/[MASKED]/"},
		{"url JavaScript encodeURIComponent", quoted, "?q=it's%20%22a%22%20%3Cb%3E%26c%2Bd", "?q=[MASKED]"},
		{"url JavaScript encodeURI", quoted, "?q=it's%20%22a%22%20%3Cb%3E&c+d", "?q=[MASKED]"},
		{"pem whole keeps its lines", pem, "key:\n" + pem + "done", "key:\n[MASKED]\n[MASKED]\n[MASKED]\n[MASKED]\ndone"},
		{"pem one line", pem, "line: QyNTUxOQAAACBnZW5lcmF0ZWQ!", "line: [MASKED]!"},
		{"pem short fragments stay", pem, "----- -----BEGIN", "----- -----BEGIN"},
		{"pem through base64(1), wrapped at 76", pem, wrap76(base64.StdEncoding.EncodeToString([]byte(pem))), "[MASKED]\n[MASKED]\n[MASKED]\n"},
		{"pem crlf", pem, strings.ReplaceAll(pem, "\n", "\r\n"), "[MASKED]\r\n[MASKED]\r\n[MASKED]\r\n[MASKED]\r\n"},
		{"trimmed", "hunter22\n", "pw hunter22 ok", "pw [MASKED] ok"},
		{"no secret", secret, "nothing to see here\n", "nothing to see here\n"},
		{"prefix only", secret, "p@ss/w<o>r", "p@ss/w<o>r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustCompile(t, tt.secret)
			if got := m.String(tt.in); got != tt.want {
				t.Fatalf("masked %q\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestBase64AtEveryAlignment(t *testing.T) {
	secret := []byte("s3cr3t-t0ken-value")
	m := mustCompile(t, string(secret))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		for prefix := range 6 {
			blob := append(bytes.Repeat([]byte{0xA5}, prefix), secret...)
			blob = append(blob, "trailing bytes"...)
			encoded := enc.EncodeToString(blob)
			got := m.String(encoded)
			if !strings.Contains(got, Replacement) {
				t.Fatalf("prefix %d: %q not masked in %q", prefix, secret, encoded)
			}
			// What is left must not decode to any 3 consecutive secret bytes.
			for _, part := range strings.Split(got, Replacement) {
				if stable := stableBase64(enc, secret, prefix%3); len(stable) > 0 && strings.Contains(part, string(stable[:4])) {
					t.Fatalf("prefix %d: part %q still holds the encoding", prefix, part)
				}
			}
		}
	}
}

func TestOverlappingSecrets(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"longest wins", []string{"abcd", "abcdefgh"}, "xx abcdefgh yy", "xx [MASKED] yy"},
		{"shorter inside longer", []string{"cdef", "abcdefgh"}, "abcdefgh", "[MASKED]"},
		{"overlap merges", []string{"abcdef", "defghi"}, "abcdefghi!", "[MASKED]!"},
		{"chain of overlaps", []string{"aaaa1", "1bbbb2", "2cccc"}, "<aaaa1bbbb2cccc>", "<[MASKED]>"},
		{"adjacent stay separate", []string{"abcd", "efgh"}, "abcdefgh", "[MASKED][MASKED]"},
		{"longer starts earlier", []string{"ghij", "efghijkl"}, "efghijkl", "[MASKED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustCompile(t, tt.secrets...)
			if got := m.String(tt.in); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// recorder keeps every write it gets.
type recorder struct {
	bytes.Buffer
	writes []string
	closed bool
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return r.Buffer.Write(p)
}
func (r *recorder) Close() error { r.closed = true; return nil }

func TestSplitWrites(t *testing.T) {
	m := mustCompile(t, "secret", "s3cr3t-two")
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"split in the middle", []string{"the s", "ecret!"}, "the [MASKED]!"},
		{"one byte at a time", strings.Split("a secret and s3cr3t-two.", ""), "a [MASKED] and [MASKED]."},
		{"false start then secret", []string{"secre", "secret"}, "secre[MASKED]"},
		{"prefix never completed", []string{"secre", "t", "d"}, "[MASKED]d"},
		{"prefix at the end is released on close", []string{"sec"}, "sec"},
		{"across lines", []string{"line one secr", "et\nline two\n"}, "line one [MASKED]\nline two\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out recorder
			w := m.NewWriter(&out)
			for _, p := range tt.writes {
				n, err := w.Write([]byte(p))
				if err != nil || n != len(p) {
					t.Fatalf("Write(%q) = %d, %v", p, n, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("got %q, want %q", out.String(), tt.want)
			}
			if !out.closed {
				t.Error("Close did not close the underlying writer")
			}
		})
	}
}

// A line in which no secret can start is written through at once.
func TestLiveRelease(t *testing.T) {
	m := mustCompile(t, "topsecret")
	var out recorder
	w := m.NewWriter(&out)
	w.Write([]byte("step 1 done\n"))
	if out.String() != "step 1 done\n" {
		t.Fatalf("a harmless line was held back: %q", out.String())
	}
	w.Write([]byte("password: tops"))
	if out.String() != "step 1 done\npassword: " {
		t.Fatalf("held back too much or too little: %q", out.String())
	}
	w.Write([]byte("ecret\n"))
	if out.String() != "step 1 done\npassword: [MASKED]\n" {
		t.Fatalf("got %q", out.String())
	}
}

func TestShortSecretsAreRefused(t *testing.T) {
	for _, v := range []string{"", "a", "abc"} {
		_, err := Compile([]Secret{{Name: "DOCKER_PASS", Value: []byte(v)}})
		var short *ShortSecretError
		if !errors.As(err, &short) || !strings.Contains(err.Error(), "DOCKER_PASS") {
			t.Errorf("Compile(%q) = %v, want a ShortSecretError naming DOCKER_PASS", v, err)
		}
	}
}

func TestUnderlyingErrorIsReturned(t *testing.T) {
	m := mustCompile(t, "secret")
	boom := errors.New("disk full")
	w := m.NewWriter(writerFunc(func([]byte) (int, error) { return 0, boom }))
	if _, err := w.Write([]byte("hello\n")); !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
	if _, err := w.Write([]byte("more")); !errors.Is(err, boom) {
		t.Fatalf("a later Write = %v, want %v", err, boom)
	}
}

func TestEveryByteValue(t *testing.T) {
	// Secrets that use all 256 byte values exercise the class table's edge.
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	m, err := Compile([]Secret{{Name: "A", Value: all[:128]}, {Name: "B", Value: all[128:]}})
	if err != nil {
		t.Fatal(err)
	}
	in := "<" + string(all[128:]) + ">" + string(all[:128])
	// Secret A holds '\n': the masked text keeps it.
	if got := m.String(in); got != "<[MASKED]>[MASKED]\n[MASKED]" {
		t.Fatalf("got %q", got)
	}
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return b.String() + s + "\n"
}

func htmlTemplate(t *testing.T, text, data string) string {
	var b strings.Builder
	if err := htmltemplate.Must(htmltemplate.New("").Parse(text)).Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// TestEveryByteValueTwice: when every byte occurs in some pattern, the
// last one to get a class gets class 0; occurring again later must not
// give it another byte's class.
func TestEveryByteValueTwice(t *testing.T) {
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	m, err := Compile([]Secret{{Name: "A", Value: all}, {Name: "B", Value: []byte("\xff\xff\xffxyz")}})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"<\xff\xff\xffxyz>": "<[MASKED]>",
		"<\x00\x00\x00xyz>": "<\x00\x00\x00xyz>",
	} {
		if got := m.String(in); got != want {
			t.Errorf("masked %q: got %q, want %q", in, got, want)
		}
	}
}

func TestIsBase64(t *testing.T) {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
	for b := range 256 {
		if want := strings.IndexByte(chars, byte(b)) >= 0; isBase64(byte(b)) != want {
			t.Errorf("isBase64(%q) = %v", byte(b), !want)
		}
	}
}

// TestRowToState checks Matcher.state, which divides by multiplying, on
// every state of matchers with many different class counts.
func TestRowToState(t *testing.T) {
	for n := 1; n <= 40; n++ {
		var secrets []string
		for i := range n {
			secrets = append(secrets, fmt.Sprintf("secret-%d-%s", i, strings.Repeat(string(rune('!'+i)), i)))
		}
		m := mustCompile(t, secrets...)
		for s := range int32(len(m.depth)) {
			if got := m.state(s * int32(m.nClasses)); got != s {
				t.Fatalf("%d classes: state(%d) = %d, want %d", m.nClasses, s*int32(m.nClasses), got, s)
			}
		}
	}
}
