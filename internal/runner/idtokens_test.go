package runner

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/config"
)

// A run whose OIDC tokens cannot be had runs no phase, and says why.
func TestIDTokensFailBeforeAnyPhase(t *testing.T) {
	p, err := config.Parse("/src/jetway.yaml", []byte("project: idt\nid_tokens:\n  AWS_WEB_IDENTITY: {aud: sts.amazonaws.com}\nphases:\n  install: [\"echo should not run\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tokens func(context.Context) (map[string]string, error)
		want   string
		code   int
	}{
		{"no server", nil, "id_tokens: only a jetway server issues OIDC tokens, so no phase ran", ExitConfig},
		{"the server refuses", func(context.Context) (map[string]string, error) {
			return nil, errors.New("401 missing or wrong run token")
		},
			"getting the run's OIDC tokens (id_tokens) from the server, so no phase ran: 401 missing or wrong run token", ExitFailed},
		{"a token missing", func(context.Context) (map[string]string, error) { return map[string]string{"OTHER": "x"}, nil },
			"the server sent no OIDC token for id_tokens.AWS_WEB_IDENTITY, so no phase ran", ExitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			s := Run(context.Background(), Options{SourceDir: t.TempDir(), Project: p, RunID: "idt00001", Sink: rec, IDTokens: tc.tokens})
			if s.Status != string(Failed) || s.ExitCode != tc.code || !strings.Contains(s.Error, tc.want) {
				t.Fatalf("summary %s %d %q, want %q", s.Status, s.ExitCode, s.Error, tc.want)
			}
			if strings.Contains(rec.text(), "should not run") {
				t.Fatal("a phase ran")
			}
		})
	}
}
