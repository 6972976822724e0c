package dockerhost

import "testing"

func TestNormalizeKey(t *testing.T) {
	want := "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n"
	for name, in := range map[string]string{
		"already fine":        want,
		"no final newline":    "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----",
		"CRLF":                "-----BEGIN KEY-----\r\nabc\r\ndef\r\n-----END KEY-----\r\n",
		"literal backslash n": `-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n`,
		"surrounding blanks":  "\n  -----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n\n",
	} {
		if got := string(NormalizeKey([]byte(in))); got != want {
			t.Errorf("%s: NormalizeKey = %q, want %q", name, got, want)
		}
	}
}
