package apiclient

import (
	"context"
	"net/url"

	"github.com/jetway-dev/jetway/internal/api"
)

// ParamsService reaches the parameter store's JSON routes (the AWS APIs
// are on the same listener, for the AWS SDK), and the scoped credentials
// that read it.
type ParamsService struct{ c *Client }

// List lists the parameters under path ("" for all), without values.
func (s ParamsService) List(ctx context.Context, path string) ([]api.ParamInfo, error) {
	q := url.Values{}
	if path != "" {
		q.Set("path", path)
	}
	var list []api.ParamInfo
	err := s.c.call(ctx, api.RouteListParams, api.ParamsPath, q, nil, &list)
	return list, err
}

// Get reads parameter name; its value only with decrypt.
func (s ParamsService) Get(ctx context.Context, name string, decrypt bool) (api.ParamInfo, error) {
	q := url.Values{"name": {name}}
	if decrypt {
		q.Set("decrypt", "1")
	}
	var p api.ParamInfo
	err := s.c.call(ctx, api.RouteGetParam, api.ParamValuePath, q, nil, &p)
	return p, err
}

// Put stores a parameter and returns its new version. An existing one
// without req.Overwrite is a *StatusError with status 409.
func (s ParamsService) Put(ctx context.Context, req api.PutParamRequest) (int64, error) {
	var out struct {
		Version int64 `json:"version"`
	}
	err := s.c.call(ctx, api.RoutePutParam, api.ParamsPath, nil, req, &out)
	return out.Version, err
}

// Delete removes parameter name.
func (s ParamsService) Delete(ctx context.Context, name string) error {
	return s.c.call(ctx, api.RouteDeleteParam, api.ParamsPath, url.Values{"name": {name}}, nil, nil)
}

// Credentials asks for a short-lived AWS key pair that reads only the
// parameters and secrets req names (Client.Resolve uses it).
func (s ParamsService) Credentials(ctx context.Context, req api.CredentialsRequest) (api.Credentials, error) {
	var creds api.Credentials
	err := s.c.call(ctx, api.RouteCredentials, api.CredentialsPath, nil, req, &creds)
	return creds, err
}
