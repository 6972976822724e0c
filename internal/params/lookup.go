package params

import (
	"context"
	"fmt"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
)

// Lookup reads one reference's value from the store itself, decrypted,
// for the server's own use (the health checks of the Docker hosts it
// knows read their credentials so). What the AWS APIs answer through a
// Resolver, it answers the same: a SecureString decrypted, a secret's
// string or binary value, or one key of a JSON secret. The caller keeps
// the value in memory only.
func (s *Store) Lookup(ctx context.Context, ref config.Ref) ([]byte, error) {
	if ref.Store != config.SecretsManager {
		p, err := s.GetParameter(ctx, ref.Name, true)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", ref, err)
		}
		return []byte(p.Value), nil
	}
	sec, err := s.GetSecretValue(ctx, ref.Name, "", "")
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	value := sec.Binary
	if !sec.IsBinary {
		value = []byte(sec.String)
	}
	if ref.JSONKey == "" {
		return value, nil
	}
	v, err := resolve.JSONKey(value, ref.JSONKey)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", ref.Name, err)
	}
	return v, nil
}
