package server

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/params"
)

// The parameters page lists the Secrets Manager secrets too, with their
// descriptions and tags, never a value; one scheduled for deletion says
// so.
func TestDashboardListsSecretsWithTags(t *testing.T) {
	ctx := context.Background()
	s, err := openServer(ctx, Options{DataDir: filepath.Join(t.TempDir(), "data")}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const value = "secret-value-on-no-page-7731"
	if _, err := s.store.CreateSecret(ctx, params.CreateSecretInput{Name: "prod/db", Description: "the shop's database",
		Write: params.SecretWrite{Value: []byte(value)}, Tags: []params.Tag{{Key: "owner", Value: "dba"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.CreateSecret(ctx, params.CreateSecretInput{Name: "old/key", Write: params.SecretWrite{Value: []byte(value)}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.store.DeleteSecret(ctx, "us-east-1", "old/key", false, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"token": {s.token}, "next": {"/params"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(page)
	_, secrets, ok := strings.Cut(body, `id="secrets"`)
	if resp.StatusCode != http.StatusOK || !ok {
		t.Fatalf("params page: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{"prod/db", "the shop&#39;s database", "owner=dba", "old/key", "deleted "} {
		if !strings.Contains(secrets, want) {
			t.Errorf("the secrets table lacks %q:\n%s", want, secrets)
		}
	}
	if strings.Contains(body, value) {
		t.Error("the page shows a secret's value")
	}
}
