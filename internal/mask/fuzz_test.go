package mask_test

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
	"github.com/jetway-dev/jetway/internal/mask/masktest"
)

// FuzzMask: random secrets, printed in random forms (wrapped base64 and
// hex dumps among them) between random bytes, written in random chunks, must come
// out as the whole-buffer model masks them, with no form left and every
// printed secret masked.
func FuzzMask(f *testing.F) {
	f.Add([]byte("hunter2!"), []byte("log line\nmore"), uint64(1))
	f.Add([]byte("-----BEGIN KEY-----\nabcdefghijkl\n-----END KEY-----\n"), []byte("x"), uint64(2))
	f.Add([]byte("a/b<c>d&e\"f\\g"), []byte{0, 1, 2, 255}, uint64(3))
	f.Add([]byte("s3cr3t-t0ken-value"), []byte("0000000000000000000000000000000000000000000000\r\n"), uint64(4))
	// Hex dumps (hex.Dump is hexdump -C), xxd -p and %XX of every byte.
	f.Add([]byte("s3cr3t-t0ken-value"), []byte(hex.Dump([]byte("\x00\x01\x02s3cr3t-t0ken-value and more"))), uint64(5))
	f.Add([]byte("hunter2!"), []byte("0000000068756e7465723221\n68756e74\n68 75 6e 74 65 72 32 21\n%68%75%6E%74%65%72%32%21 %68%75%6e%74"), uint64(6))
	f.Fuzz(func(t *testing.T, secretSeed, filler []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(len(secretSeed))))
		filler = filler[:min(len(filler), 4<<10)] // the model is quadratic
		// One to four secrets: the fuzzer's bytes first, then random ones,
		// some of them sharing prefixes.
		var secrets []mask.Secret
		if len(secretSeed) >= mask.MinSecretLen && len(secretSeed) <= 200 {
			secrets = append(secrets, mask.Secret{Name: "fuzz", Value: secretSeed})
		}
		for n := rng.IntN(4); n >= 0; n-- {
			v := masktest.Secret(rng)
			if len(secrets) > 0 && rng.IntN(3) == 0 {
				prev := secrets[len(secrets)-1].Value
				v = append(append([]byte{}, prev[:rng.IntN(len(prev))]...), v...)
			}
			secrets = append(secrets, mask.Secret{Name: "rand", Value: v})
		}
		m, err := mask.Compile(secrets)
		if err != nil {
			t.Fatal(err)
		}
		var forms [][]byte
		for _, s := range secrets {
			forms = append(forms, mask.Forms(s.Value)...)
		}
		// Text: filler and renderings of random secrets, interleaved.
		var in []byte
		var must []masktest.Span
		for range 1 + rng.IntN(12) {
			if len(filler) > 0 && rng.IntN(2) == 0 {
				a := rng.IntN(len(filler))
				in = append(in, filler[a:a+rng.IntN(len(filler)-a+1)]...)
			}
			r := masktest.Render(rng, secrets[rng.IntN(len(secrets))].Value, rng.IntN(masktest.Kinds))
			must = append(must, masktest.Span{Start: len(in) + r.Must.Start, End: len(in) + r.Must.End})
			in = append(in, r.Text...)
		}
		// Random chunking, down to single bytes.
		var got bytes.Buffer
		w := m.NewWriter(&got)
		for rest := in; len(rest) > 0; {
			n := 1 + rng.IntN(min(len(rest), 1+rng.IntN(64)))
			if k, err := w.Write(rest[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v", k, err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		want := masktest.Mask(forms, in)
		if !bytes.Equal(got.Bytes(), want.Out) {
			t.Fatalf("input %q\n got %q\nwant %q", in, got.Bytes(), want.Out)
		}
		// Independently of the model's matching: no form is left in what
		// it keeps, and every secret printed is masked.
		for _, kept := range want.Kept(in) {
			for _, p := range forms {
				if bytes.Contains(kept, p) {
					t.Fatalf("form %q survives in %q", p, kept)
				}
			}
		}
		for _, s := range must {
			if !want.Covers(s) {
				t.Fatalf("input %q: %q at %d is not masked (spans %v)", in, in[s.Start:s.End], s.Start, want.Spans)
			}
		}
	})
}
