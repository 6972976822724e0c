package apiclient

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
)

// Resolve reads references from the server's parameter store: it asks
// POST /v1/credentials for a key pair that can read only these references,
// then reads them through the AWS APIs at endpoint (default: the server).
func (c *Client) Resolve(ctx context.Context, endpoint string, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
	req := api.CredentialsRequest{TTLSeconds: 900}
	for _, ref := range refs {
		if ref.Store == config.SecretsManager {
			req.Secrets = append(req.Secrets, ref.Name)
		} else {
			req.Parameters = append(req.Parameters, ref.Name)
		}
	}
	creds, err := c.Params.Credentials(ctx, req)
	if err != nil {
		return nil, err
	}
	if endpoint == "" {
		endpoint = c.BaseURL
	}
	r, err := resolve.New(ctx, resolve.Options{
		Endpoint:    endpoint,
		Region:      creds.Region,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
	if err != nil {
		return nil, err
	}
	return r.Resolve(ctx, refs)
}
