package apiclient

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// Whoami says whose the client's token is.
func (c *Client) Whoami(ctx context.Context) (api.Whoami, error) {
	var who api.Whoami
	err := c.call(ctx, api.RouteWhoami, api.WhoamiPath, nil, nil, &who)
	return who, err
}

// TokensService manages API tokens (admin).
type TokensService struct{ c *Client }

// List lists the tokens, never their secrets.
func (s TokensService) List(ctx context.Context) ([]api.Token, error) {
	var tokens []api.Token
	err := s.c.call(ctx, api.RouteListTokens, api.TokensPath, nil, nil, &tokens)
	return tokens, err
}

// Create makes a token; its secret is in the answer, this once.
func (s TokensService) Create(ctx context.Context, req api.NewTokenRequest) (api.NewToken, error) {
	var out api.NewToken
	err := s.c.call(ctx, api.RouteCreateToken, api.TokensPath, nil, req, &out)
	return out, err
}

// Revoke revokes the token called name.
func (s TokensService) Revoke(ctx context.Context, name string) error {
	return s.c.call(ctx, api.RouteRevokeToken, api.TokenPath(name), nil, nil, nil)
}

// AuditService reads the audit log (admin).
type AuditService struct{ c *Client }

// AuditListOptions choose entries of the audit log; the zero value is the
// server's default number of the latest.
type AuditListOptions struct {
	Since time.Time // entries at or after it
	After int64     // entries numbered after it
	Limit int       // 0: the server's default (1000); at most 10000
}

// List reads entries of the audit log.
func (s AuditService) List(ctx context.Context, opts AuditListOptions) ([]api.AuditEntry, error) {
	q := url.Values{}
	if !opts.Since.IsZero() {
		q.Set("since", opts.Since.UTC().Format(time.RFC3339Nano))
	}
	if opts.After > 0 {
		q.Set("after", strconv.FormatInt(opts.After, 10))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var entries []api.AuditEntry
	err := s.c.call(ctx, api.RouteListAudit, api.AuditPath, q, nil, &entries)
	return entries, err
}

// OIDCService manages the server's OIDC signing keys (admin).
type OIDCService struct{ c *Client }

// Rotate makes a new signing key current.
func (s OIDCService) Rotate(ctx context.Context) (api.OIDCRotateResponse, error) {
	var out api.OIDCRotateResponse
	err := s.c.call(ctx, api.RouteRotateOIDCKey, api.OIDCRotatePath, nil, nil, &out)
	return out, err
}
