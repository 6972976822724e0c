package runproto

import (
	"context"
	"net/http"

	"github.com/jetway-dev/jetway/internal/api"
)

// IDTokens asks the server for the run's OIDC tokens, those its project
// file's id_tokens name, by variable name (none for a project without
// id_tokens). The server computes every claim from the run it stored;
// the request carries nothing but the run token. It is tried again while
// the server answers 5xx or not at all (another server of several may
// answer next).
func (c *RunClient) IDTokens(ctx context.Context) (map[string]string, error) {
	var out api.IDTokensResponse
	err := retry(ctx, func() error {
		return c.api.Do(ctx, http.MethodPost, c.path("id-tokens"), nil, nil, &out)
	})
	if err != nil {
		return nil, err
	}
	return out.Tokens, nil
}
