package params

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
)

// Lookup answers what a Resolver reads through the AWS APIs, value for
// value, and says which reference is missing.
func TestLookup(t *testing.T) { onEachEngine(t, testLookup) }

func testLookup(t *testing.T, s *testServer) {
	ctx := context.Background()
	put(t, s.adminSSM(), "/dev/JETS_SSH_KEY", "SecureString", sshKey, false)
	put(t, s.adminSSM(), "/dev/KNOWN", "String", "host ssh-ed25519 AAAA", false)
	if _, err := s.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("tls"), SecretString: aws.String(`{"key":"-----BEGIN KEY-----","n":3}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("raw"), SecretBinary: []byte{0, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	refs := []config.Ref{
		{Store: config.ParameterStore, Name: "/dev/JETS_SSH_KEY"},
		{Store: config.ParameterStore, Name: "/dev/KNOWN"},
		{Store: config.SecretsManager, Name: "tls", JSONKey: "key"},
		{Store: config.SecretsManager, Name: "tls", JSONKey: "n"},
		{Store: config.SecretsManager, Name: "tls"},
		{Store: config.SecretsManager, Name: "raw"},
	}
	pair := s.issue(t, Scope{Parameters: []string{"/dev/JETS_SSH_KEY", "/dev/KNOWN"}, Secrets: []string{"tls", "raw"}, TTL: time.Minute})
	r, err := resolve.New(ctx, resolve.Options{Endpoint: s.URL, Region: "us-east-1", Credentials: s.config(pair.AccessKeyID, pair.SecretAccessKey).Credentials})
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.Resolve(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		got, err := s.Store.Lookup(ctx, ref)
		if err != nil || string(got) != string(want[ref].Value) {
			t.Errorf("%s: %q %v, want %q", ref, got, err, want[ref].Value)
		}
	}
	for _, ref := range []config.Ref{{Store: config.ParameterStore, Name: "/dev/NOPE"}, {Store: config.SecretsManager, Name: "nope"}, {Store: config.SecretsManager, Name: "tls", JSONKey: "nokey"}} {
		if got, err := s.Store.Lookup(ctx, ref); err == nil || got != nil {
			t.Errorf("%s: %q %v, want an error", ref, got, err)
		} else if ref.JSONKey == "" && !strings.Contains(err.Error(), ref.String()) {
			t.Errorf("%s: the error %q does not name the reference", ref, err)
		}
	}
}
