package masktest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	line16 := "0123456789abcdef"
	tests := []struct {
		name  string
		forms []string
		in    string
		want  string
	}{
		{"plain", []string{"hunter22"}, "pw hunter22.", "pw [MASKED]."},
		{"overlaps merge", []string{"abcdef", "defghi"}, "abcdefghi!", "[MASKED]!"},
		{"adjacent stay apart", []string{"abcd", "efgh"}, "abcdefgh", "[MASKED][MASKED]"},
		{"wrapped after 16 base64 characters", []string{"QUJDREVG"}, line16 + "QUJ\nDREVG!", line16 + "[MASKED]\n[MASKED]!"},
		{"wrapped with \\r\\n", []string{"QUJDREVG"}, line16 + "QUJ\r\nDREVG!", line16 + "[MASKED]\r\n[MASKED]!"},
		{"line too short to be wrapped base64", []string{"QUJDREVG"}, line16[3:] + "QU\nJDREVG", line16[3:] + "QU\nJDREVG"},
		{"line with a space", []string{"QUJDREVG"}, line16 + " QUJ\nDREVG", line16 + " QUJ\nDREVG"},
		{"two breaks", []string{"QUJDREVGR0hJSktMTU5PUFFSU1RV"}, line16 + "QUJD\nREVGR0hJSktMTU5P\nUFFSU1RV!", line16 + "[MASKED]\n[MASKED]\n[MASKED]!"},
		{"second line too short", []string{"QUJDREVGR0hJSktMTU5PUFFSU1RV"}, line16 + "QUJD\nREVGR0hJSktMTU5\nPUFFSU1RV!", line16 + "QUJD\nREVGR0hJSktMTU5\nPUFFSU1RV!"},
		{"not base64: no breaks", []string{"a b c d"}, line16 + "a b\nc d", line16 + "a b\nc d"},
		{"break kept in a plain match", []string{"line1\nline2"}, "<line1\nline2>", "<[MASKED]\n[MASKED]>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var forms [][]byte
			for _, f := range tt.forms {
				forms = append(forms, []byte(f))
			}
			if got := Mask(forms, []byte(tt.in)).Out; string(got) != tt.want {
				t.Fatalf("masked %q\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestRenderWrapped: the text decodes to bytes that hold the secret, and
// Must is where the characters that depend on the secret alone are.
func TestRenderWrapped(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		secret := Secret(rng)
		r := Render(rng, secret, Wrapped)
		text := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(r.Text))
		blob, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			blob, err = base64.URLEncoding.DecodeString(text)
		}
		i := bytes.Index(blob, secret)
		if err != nil || i < 0 {
			t.Fatalf("%q does not decode to bytes holding %q: %v", r.Text, secret, err)
		}
		must := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(r.Text[r.Must.Start:r.Must.End]))
		if want := text[(8*i+5)/6 : 8*(i+len(secret))/6]; must != want {
			t.Fatalf("Must is %q, want %q", must, want)
		}
	}
}

// TestRenderDumped: the text is what xxd -p, od or hexdump -C print for
// the bytes it shows, and Must is the hex of 8 bytes of the secret or
// more (all of a shorter secret), in order.
func TestRenderDumped(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		secret := Secret(rng)
		r := Render(rng, secret, Dumped)
		lines := strings.SplitAfter(string(r.Text), "\n")
		lines = lines[:len(lines)-1]
		var argv []string
		var digits string
		switch first := lines[0]; {
		case strings.HasPrefix(first, "00000000  "):
			argv = []string{"hexdump", "-Cv"}
			for _, l := range lines {
				digits += l[10:59]
			}
		case strings.HasPrefix(first, " "):
			argv = []string{"od", "-A", "n", "-t", "x1", "-v", fmt.Sprintf("-w%d", len(first)/3)}
			digits = strings.Join(lines, "")
		default:
			argv = []string{"xxd", "-p", "-c", fmt.Sprint(len(first) / 2)}
			if text := string(r.Text); strings.ToUpper(text) == text && strings.ToLower(text) != text {
				argv = append(argv, "-u")
			}
			digits = strings.Join(lines, "")
		}
		blob, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(digits))
		if err != nil {
			t.Fatalf("%q: %v", r.Text, err)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = bytes.NewReader(blob)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		// hexdump ends with the offset after the last byte; head may have
		// cut xxd short.
		if real := strings.SplitAfter(string(out), "\n"); strings.Join(real[:len(lines)], "") != string(r.Text) {
			t.Fatalf("%v prints\n%s\nnot\n%s", argv, out, r.Text)
		}
		if r.Must.End == 0 {
			continue
		}
		must := strings.NewReplacer(" ", "", "\n", "").Replace(string(r.Text[r.Must.Start:r.Must.End]))
		b, err := hex.DecodeString(must)
		if err != nil || len(b) < min(8, len(secret)) || !bytes.Contains(secret, b) {
			t.Fatalf("Must is %q in %q, not hex of 8 bytes of %q or more (%v)", must, r.Text, secret, err)
		}
	}
}
