//go:build linux

package cli

import (
	"errors"
	"testing"
)

func TestListenURL(t *testing.T) {
	named := func() (string, error) { return "builder.internal", nil }
	unnamed := func() (string, error) { return "", errors.New("no name") }
	for _, tc := range []struct {
		listen   string
		hostname func() (string, error)
		want     string
	}{
		{"127.0.0.1:7070", named, "http://127.0.0.1:7070"},
		{"0.0.0.0:7070", named, "http://builder.internal:7070"},
		{"[::]:7070", named, "http://builder.internal:7070"},
		{":7070", named, "http://builder.internal:7070"},
		{"0.0.0.0:7070", unnamed, "http://127.0.0.1:7070"},
		{"[::1]:8080", named, "http://[::1]:8080"},
		{"jetway.example.com:443", named, "http://jetway.example.com:443"},
		{"no port", named, ""},
	} {
		if got := listenURL(tc.listen, tc.hostname); got != tc.want {
			t.Errorf("listenURL(%q) = %q, want %q", tc.listen, got, tc.want)
		}
	}
}
