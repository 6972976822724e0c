package mask

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// buildLog makes size bytes of build-log-like text: words, paths, hex
// digests, base64-looking blobs, with a secret every ~64 KB.
func buildLog(rng *rand.Rand, size int, secrets [][]byte) []byte {
	words := strings.Fields("Step RUN COPY npm install bundle gem fetching resolving layer sha256 Downloading Extracting done warning error /usr/src/app node_modules vendor cache hit miss pulled pushed")
	const hexDigits = "0123456789abcdef"
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var sb strings.Builder
	for sb.Len() < size {
		switch rng.IntN(10) {
		case 0:
			sb.WriteString("sha256:")
			for range 64 {
				sb.WriteByte(hexDigits[rng.IntN(16)])
			}
		case 1:
			for range 40 {
				sb.WriteByte(b64[rng.IntN(64)])
			}
		default:
			for range 8 {
				sb.WriteString(words[rng.IntN(len(words))])
				sb.WriteByte(' ')
			}
		}
		sb.WriteByte('\n')
		if len(secrets) > 0 && rng.IntN(400) == 0 {
			sb.Write(secrets[rng.IntN(len(secrets))])
			sb.WriteByte('\n')
		}
	}
	return []byte(sb.String()[:size])
}

func randomSecrets(rng *rand.Rand, n int) [][]byte {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*()-_=+/"
	var out [][]byte
	for range n {
		v := make([]byte, 8+rng.IntN(57)) // 8–64 bytes
		for i := range v {
			v[i] = chars[rng.IntN(len(chars))]
		}
		out = append(out, v)
	}
	return out
}

// BenchmarkWriter: throughput over a 100 MB log written in 32 KB chunks,
// as io.Copy from a process pipe writes it, with 1, 10 and 100 secrets.
func BenchmarkWriter(b *testing.B) {
	const logSize = 100 << 20
	const corpusSize = 4 << 20
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			values := randomSecrets(rng, n)
			var secrets []Secret
			for i, v := range values {
				secrets = append(secrets, Secret{Name: fmt.Sprint(i), Value: v})
			}
			m, err := Compile(secrets)
			if err != nil {
				b.Fatal(err)
			}
			corpus := buildLog(rng, corpusSize, values)
			b.SetBytes(logSize)
			b.ResetTimer()
			for range b.N {
				w := m.NewWriter(io.Discard)
				for written := 0; written < logSize; written += corpusSize {
					for off := 0; off < corpusSize; off += 32 << 10 {
						w.Write(corpus[off : off+32<<10])
					}
				}
				w.Close()
			}
			b.ReportMetric(float64(m.TableBytes())/(1<<20), "table-MiB")
			b.ReportMetric(float64(m.Patterns()), "patterns")
		})
	}
}

// BenchmarkCompile: building the automaton at run start.
func BenchmarkCompile(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	var secrets []Secret
	for i, v := range randomSecrets(rng, 100) {
		secrets = append(secrets, Secret{Name: fmt.Sprint(i), Value: v})
	}
	for range b.N {
		if _, err := Compile(secrets); err != nil {
			b.Fatal(err)
		}
	}
}
