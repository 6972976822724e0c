package mask

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// referenceMask is the obvious, whole-buffer answer: every occurrence of
// every pattern, overlapping spans merged, each merged span replaced.
func referenceMask(patterns [][]byte, in []byte) (out []byte, spans []span) {
	for _, p := range patterns {
		for i := 0; ; {
			j := bytes.Index(in[i:], p)
			if j < 0 {
				break
			}
			spans = append(spans, span{int64(i + j), int64(i + j + len(p))})
			i += j + 1
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.start - b.start) })
	var merged []span
	for _, s := range spans {
		if n := len(merged); n > 0 && s.start < merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	var last int64
	for _, s := range merged {
		out = append(out, in[last:s.start]...)
		out = append(out, Replacement...)
		last = s.end
	}
	return append(out, in[last:]...), merged
}

func FuzzMask(f *testing.F) {
	f.Add([]byte("hunter2!"), []byte("log line\nmore"), uint64(1))
	f.Add([]byte("-----BEGIN KEY-----\nabcdefghijkl\n-----END KEY-----\n"), []byte("x"), uint64(2))
	f.Add([]byte("a/b<c>d&e\"f\\g"), []byte{0, 1, 2, 255}, uint64(3))
	f.Fuzz(func(t *testing.T, secretSeed, filler []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(len(secretSeed))))
		// One to four secrets: the fuzzer's bytes first, then random ones,
		// some of them printable and some sharing prefixes.
		var secrets []Secret
		if len(secretSeed) >= MinSecretLen && len(secretSeed) <= 200 {
			secrets = append(secrets, Secret{Name: "fuzz", Value: secretSeed})
		}
		for n := rng.IntN(4); n >= 0; n-- {
			v := make([]byte, MinSecretLen+rng.IntN(40))
			for i := range v {
				if rng.IntN(2) == 0 {
					v[i] = byte(rng.IntN(256))
				} else {
					const alphabet = "abc/+=\n\"\\<>& xyz0123"
					v[i] = alphabet[rng.IntN(len(alphabet))]
				}
			}
			if len(secrets) > 0 && rng.IntN(3) == 0 {
				prev := secrets[len(secrets)-1].Value
				v = append(append([]byte{}, prev[:rng.IntN(len(prev))]...), v...)
			}
			secrets = append(secrets, Secret{Name: "rand", Value: v})
		}
		m, err := Compile(secrets)
		if err != nil {
			t.Fatal(err)
		}
		var patterns [][]byte
		for _, s := range secrets {
			patterns = append(patterns, Forms(s.Value)...)
		}
		// Text: filler and random forms of random secrets, interleaved.
		var in []byte
		for range 1 + rng.IntN(12) {
			if len(filler) > 0 && rng.IntN(2) == 0 {
				a := rng.IntN(len(filler))
				in = append(in, filler[a:a+rng.IntN(len(filler)-a+1)]...)
			}
			forms := Forms(secrets[rng.IntN(len(secrets))].Value)
			form := forms[rng.IntN(len(forms))]
			if rng.IntN(4) == 0 {
				form = form[:rng.IntN(len(form))] // a prefix that never completes
			}
			in = append(in, form...)
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
		want, spans := referenceMask(patterns, in)
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("input %q\n got %q\nwant %q", in, got.Bytes(), want)
		}
		// Independently: no form survives in what was kept.
		var last int64
		for _, s := range append(spans, span{int64(len(in)), int64(len(in))}) {
			kept := in[last:s.start]
			for _, p := range patterns {
				if bytes.Contains(kept, p) {
					t.Fatalf("form %q survives in %q", p, kept)
				}
			}
			last = s.end
		}
	})
}
