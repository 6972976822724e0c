package params

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

type testServer struct {
	URL     string
	DataDir string
	Store   *Store
	Keys    *Keys
	Admin   AdminCredentials
	API     *API
}

// newTestServer serves the embedded store on a loopback port.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	store, err := OpenStore(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := NewKeys()
	admin, err := keys.LoadOrCreateAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	api := &API{Store: store, Keys: keys}
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		store.Close()
	})
	return &testServer{URL: srv.URL, DataDir: dir, Store: store, Keys: keys, Admin: admin, API: api}
}

func (s *testServer) config(id, secret string) aws.Config {
	return aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	}
}

func (s *testServer) ssmClient(id, secret string) *ssm.Client {
	return ssm.NewFromConfig(s.config(id, secret), func(o *ssm.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func (s *testServer) smClient(id, secret string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.config(id, secret), func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func (s *testServer) adminSSM() *ssm.Client {
	return s.ssmClient(s.Admin.AccessKeyID, s.Admin.SecretAccessKey)
}

func (s *testServer) adminSM() *secretsmanager.Client {
	return s.smClient(s.Admin.AccessKeyID, s.Admin.SecretAccessKey)
}
