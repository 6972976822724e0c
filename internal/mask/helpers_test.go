package mask_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
)

// maskInWrites masks text written in pieces of the given sizes.
func maskInWrites(t *testing.T, m *mask.Matcher, text string, writes []int) string {
	t.Helper()
	var out bytes.Buffer
	w := m.NewWriter(&out)
	rest := text
	for _, n := range writes {
		if k, err := w.Write([]byte(rest[:n])); k != n || err != nil {
			t.Fatalf("Write = %d, %v", k, err)
		}
		rest = rest[n:]
	}
	if rest != "" {
		t.Fatalf("writes %v do not cover %d bytes", writes, len(text))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// cuts returns ways to write n bytes: one at a time, and in two writes
// cut at every offset.
func cuts(n int) [][]int {
	ones := make([]int, n)
	for i := range ones {
		ones[i] = 1
	}
	all := [][]int{ones}
	for c := 1; c < n; c++ {
		all = append(all, []int{c, n - c})
	}
	return all
}

func mustCompile(t testing.TB, secrets ...string) *mask.Matcher {
	t.Helper()
	var ss []mask.Secret
	for i, s := range secrets {
		ss = append(ss, mask.Secret{Name: fmt.Sprintf("S%d", i), Value: []byte(s)})
	}
	m, err := mask.Compile(ss)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
