package params

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// signedRequest builds a GetParameter request signed with the given key at
// the given time; tamper may change it after signing.
func signedRequest(t *testing.T, url, id, secret string, at time.Time, tamper func(*http.Request)) *http.Request {
	t.Helper()
	return sdkSigned(t, url, id, secret, at, nil, tamper)
}

// sdkSigned builds a GetParameter request; prepare may change it before the
// AWS SDK's signer signs it (a header the signer does not see is not
// signed), tamper after.
func sdkSigned(t *testing.T, url, id, secret string, at time.Time, prepare, tamper func(*http.Request)) *http.Request {
	t.Helper()
	body := []byte(`{"Name":"/dev/A","WithDecryption":true}`)
	req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	if prepare != nil {
		prepare(req)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ssm", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		tamper(req)
	}
	return req
}

// handSigned builds a GetParameter request with a valid signature over
// exactly the headers in signed, which the SDK's signer cannot be told to
// do: it always signs Host.
func handSigned(t *testing.T, url, id, secret string, at time.Time, signed []string) *http.Request {
	t.Helper()
	body := []byte(`{"Name":"/dev/A","WithDecryption":true}`)
	req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	amzDate := at.UTC().Format("20060102T150405Z")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	req.Header.Set("X-Amz-Date", amzDate)
	a := authHeader{accessKey: id, date: amzDate[:8], region: "us-east-1", service: "ssm", signedHeaders: signed}
	// What the server sees: its Host is the URL's.
	req.Host = req.URL.Host
	sig := signature(secret, a, amzDate, canonicalRequest(req, signed, sha256Hex(body)))
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		sigAlgorithm, id, a.date, a.region, a.service, strings.Join(signed, ";"), sig))
	return req
}

func TestSigV4Rejections(t *testing.T) { onEachEngine(t, testSigV4Rejections) }

func testSigV4Rejections(t *testing.T, s *testServer) {
	put(t, s.adminSSM(), "/dev/A", "String", "a", false)
	now := time.Now()
	id, secret := s.Admin.AccessKeyID, s.Admin.SecretAccessKey
	tests := []struct {
		name string
		req  *http.Request
		code string
	}{
		{"correctly signed", signedRequest(t, s.URL, id, secret, now, nil), ""},
		{"unsigned", signedRequest(t, s.URL, id, secret, now, func(r *http.Request) { r.Header.Del("Authorization") }), "MissingAuthenticationTokenException"},
		{"wrong secret", signedRequest(t, s.URL, id, "not-the-secret", now, nil), "InvalidSignatureException"},
		{"unknown key", signedRequest(t, s.URL, "AKIAUNKNOWN", secret, now, nil), "UnrecognizedClientException"},
		{"skewed 20 minutes back", signedRequest(t, s.URL, id, secret, now.Add(-20*time.Minute), nil), "InvalidSignatureException"},
		{"skewed 20 minutes ahead", signedRequest(t, s.URL, id, secret, now.Add(20*time.Minute), nil), "InvalidSignatureException"},
		{"skewed 10 minutes is fine", signedRequest(t, s.URL, id, secret, now.Add(-10*time.Minute), nil), ""},
		{"body changed after signing", signedRequest(t, s.URL, id, secret, now, func(r *http.Request) {
			b := []byte(`{"Name":"/dev/B","WithDecryption":true}`)
			r.Body, r.ContentLength = ioNopCloser(b), int64(len(b))
		}), "InvalidSignatureException"},
		{"signed header changed", signedRequest(t, s.URL, id, secret, now, func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "AmazonSSM.DeleteParameter")
		}), "InvalidSignatureException"},
		{"garbled header", signedRequest(t, s.URL, id, secret, now, func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 nonsense")
		}), "IncompleteSignatureException"},
		// A request signed without X-Amz-Target: whoever captures it
		// chooses the operation.
		{"target not signed, set to DeleteParameter", sdkSigned(t, s.URL, id, secret, now,
			func(r *http.Request) { r.Header.Del("X-Amz-Target") },
			func(r *http.Request) { r.Header.Set("X-Amz-Target", "AmazonSSM.DeleteParameter") }), "IncompleteSignatureException"},
		{"content type not signed", sdkSigned(t, s.URL, id, secret, now,
			func(r *http.Request) { r.Header.Del("Content-Type") },
			func(r *http.Request) { r.Header.Set("Content-Type", "application/x-amz-json-1.1") }), "IncompleteSignatureException"},
		{"x-amz header added after signing", signedRequest(t, s.URL, id, secret, now, func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		}), "IncompleteSignatureException"},
		{"host not signed", handSigned(t, s.URL, id, secret, now, []string{"content-type", "x-amz-date", "x-amz-target"}), "IncompleteSignatureException"},
		{"date not signed", handSigned(t, s.URL, id, secret, now, []string{"content-type", "host", "x-amz-target"}), "IncompleteSignatureException"},
		{"hand-signed with every required header", handSigned(t, s.URL, id, secret, now, []string{"content-type", "host", "x-amz-date", "x-amz-target"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if tt.code == "" {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %v", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != 400 || body["__type"] != tt.code || resp.Header.Get("X-Amzn-ErrorType") != tt.code {
				t.Fatalf("status %d, body %v; want 400 %s", resp.StatusCode, body, tt.code)
			}
			if strings.Contains(tt.name, "skewed") && !strings.Contains(body["message"].(string), "expired") {
				t.Errorf("message %q does not say the signature expired", body["message"])
			}
			if strings.Contains(tt.name, "not signed") && !strings.Contains(body["message"].(string), "must include") {
				t.Errorf("message %q does not name the header to sign", body["message"])
			}
		})
	}
	// None of the tampered requests ran: /dev/A is still there.
	got, err := s.adminSSM().GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("/dev/A")})
	if err != nil || aws.ToString(got.Parameter.Value) != "a" {
		t.Fatalf("/dev/A after the tampered requests: %v", err)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func ioNopCloser(b []byte) nopCloser { return nopCloser{bytes.NewReader(b)} }
