package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// startServer runs a real server on a loopback port.
func startServer(t *testing.T) (url, token, dataDir string) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	url, token = servertest.Start(t, server.Options{DataDir: dataDir})
	return url, token, dataDir
}

func TestAPINeedsTheToken(t *testing.T) {
	url, token, dataDir := startServer(t)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token} {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/params", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/params", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("with the token: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	resp, err = http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	for _, f := range []string{"token", "master.key", "credentials", "config"} {
		info, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, info.Mode(), err)
		}
	}
	if info, _ := os.Stat(dataDir); info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", info.Mode())
	}
}

func TestCredentialsAreScoped(t *testing.T) {
	url, token, _ := startServer(t)
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, name := range []string{"/dev/A", "/dev/B"} {
		resp := do(http.MethodPost, "/v1/params", `{"name":"`+name+`","type":"SecureString","value":"v"}`)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("put %s: %d", name, resp.StatusCode)
		}
	}
	resp := do(http.MethodPost, "/v1/credentials", `{"parameters":["/dev/A"],"ttl_seconds":60}`)
	var creds api.Credentials
	if err := json.NewDecoder(resp.Body).Decode(&creds); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if creds.AccessKeyID == "" || time.Until(creds.Expiration) > time.Minute+time.Second {
		t.Fatalf("credentials %+v", creds)
	}
	c := ssm.NewFromConfig(aws.Config{Region: creds.Region, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")},
		func(o *ssm.Options) { o.BaseEndpoint = aws.String(url) })
	ctx := context.Background()
	if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/A"), WithDecryption: aws.Bool(true)}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/B"), WithDecryption: aws.Bool(true)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("not allowed: %v", err)
	}
	resp = do(http.MethodPost, "/v1/credentials", `{"parameters":["/dev/A"],"ttl_seconds":99999999}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("overlong ttl: %d", resp.StatusCode)
	}
}
