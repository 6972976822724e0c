package mask_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
)

// TestLineBreaksKept: a masked span keeps its line breaks, so a secret
// that ends in a newline does not join the next line to [MASKED].
func TestLineBreaksKept(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
	tests := []struct {
		name, secret, in, want string
	}{
		{"secret ending in \\n", "hunter22-token\n", "pw: hunter22-token\nT34 next\n", "pw: [MASKED]\nT34 next\n"},
		{"secret ending in \\r\\n", "hunter22-token\r\n", "pw: hunter22-token\r\nT34\r\n", "pw: [MASKED]\r\nT34\r\n"},
		{"key file then output", key, key + "T34 done\n", "[MASKED]\n[MASKED]\n[MASKED]\nT34 done\n"},
		{"secret starting with \\n", "\nhunter22", "a\nhunter22 b", "a\n[MASKED] b"},
		{"bare \\r is masked", "abc\rdefg", "x abc\rdefg y", "x [MASKED] y"},
		{"\\r at the end of the span", "hunter22\r", "hunter22\r\nnext", "[MASKED]\nnext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustCompile(t, tt.secret)
			for _, writes := range append(cuts(len(tt.in)), []int{len(tt.in)}) {
				if got := maskInWrites(t, m, tt.in, writes); got != tt.want {
					t.Fatalf("writes of %v bytes: masked %q\n got %q\nwant %q", writes, tt.in, got, tt.want)
				}
			}
		})
	}
}

// TestWrappedLiveRelease: a line of base64 is held back only from where
// the secret's encoding could start, and only until the next line shows
// whether it goes on.
func TestWrappedLiveRelease(t *testing.T) {
	const secret = "s3cr3t-t0ken/value+with=chars"
	enc := base64.StdEncoding.EncodeToString([]byte(secret))
	pad := strings.Repeat("A", 60) // 45 bytes: the secret's encoding starts whole
	for _, eol := range []string{"\n", "\r\n"} {
		m := mustCompile(t, secret)
		var out strings.Builder
		w := m.NewWriter(&out)
		step := func(in, want string) {
			t.Helper()
			if _, err := w.Write([]byte(in)); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Fatalf("eol %q: after writing %q the output is\n%q\nwant\n%q", eol, in, out.String(), want)
			}
		}
		line := pad + enc[:16]
		unrelated := strings.Repeat("QUJD", 19)
		step(unrelated+eol, unrelated+eol)
		// The line ends with the start of the encoding: it waits, also
		// when the write ends between '\r' and '\n'.
		step(line+eol[:len(eol)-1], unrelated+eol+pad)
		step(eol[len(eol)-1:]+"not base64 after all"+eol, unrelated+eol+line+eol+"not base64 after all"+eol)
		step(line+eol, unrelated+eol+line+eol+"not base64 after all"+eol+pad)
		step(enc[16:]+eol, unrelated+eol+line+eol+"not base64 after all"+eol+pad+mask.Replacement+eol+mask.Replacement+eol)
	}
}
