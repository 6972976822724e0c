package mask_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
	"github.com/jetway-dev/jetway/internal/mask/masktest"
)

// Whatever the write sizes — one byte at a time, or a whole log at once —
// a long log full of secrets in every form (wrapped base64 with "\n" and
// "\r\n", hex dumps, truncated forms), among lines that look like base64,
// comes out the same, and every rendering that must be masked is. (The
// fuzzers write short texts; this is the long one.)
func TestLongWritesMaskAsShortOnes(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			var secrets []mask.Secret
			for i := range 1 + int(seed)*7 {
				secrets = append(secrets, mask.Secret{Name: fmt.Sprint(i), Value: masktest.Secret(rng)})
			}
			m, err := mask.Compile(secrets)
			if err != nil {
				t.Fatal(err)
			}
			words := strings.Fields("Step RUN COPY npm install bundle gem sha256 layer done warning error /usr/src/app")
			const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			var in []byte
			var must []masktest.Span
			for len(in) < 300<<10 {
				switch rng.IntN(8) {
				case 0:
					r := masktest.Render(rng, secrets[rng.IntN(len(secrets))].Value, rng.IntN(masktest.Kinds))
					if r.Must.End > r.Must.Start {
						must = append(must, masktest.Span{Start: len(in) + r.Must.Start, End: len(in) + r.Must.End})
					}
					in = append(in, r.Text...)
				case 1:
					for range 16 + rng.IntN(80) {
						in = append(in, b64[rng.IntN(len(b64))])
					}
				default:
					for range 1 + rng.IntN(10) {
						in = append(in, words[rng.IntN(len(words))]...)
						in = append(in, ' ')
					}
				}
				if rng.IntN(5) == 0 {
					in = append(in, '\r')
				}
				in = append(in, '\n')
			}
			ones := maskIn(m, in, 1)
			for _, size := range []int{700, 5 << 10, 32 << 10, 100 << 10, len(in)} {
				if got := maskIn(m, in, size); !bytes.Equal(got, ones) {
					i := 0
					for i < len(got) && i < len(ones) && got[i] == ones[i] {
						i++
					}
					t.Fatalf("writes of %d bytes differ from writes of one, at output byte %d:\n%q\nwant\n%q", size, i, got[max(0, i-80):min(len(got), i+80)], ones[max(0, i-80):min(len(ones), i+80)])
				}
			}
			// Every rendering that must be masked is: none of its bytes
			// reaches the output in the clear as a whole.
			for _, s := range must {
				if bytes.Contains(ones, bytes.TrimSpace(in[s.Start:s.End])) && s.End-s.Start >= mask.MinSecretLen {
					t.Fatalf("a rendering is in the output: %q", in[s.Start:s.End])
				}
			}
		})
	}
}

// maskIn masks in with writes of size bytes.
func maskIn(m *mask.Matcher, in []byte, size int) []byte {
	var out bytes.Buffer
	w := m.NewWriter(&out)
	for len(in) > 0 {
		n := min(size, len(in))
		_, _ = w.Write(in[:n])
		in = in[n:]
	}
	_ = w.Close()
	return out.Bytes()
}
