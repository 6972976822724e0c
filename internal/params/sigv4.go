package params

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Signature Version 4 verification, written by hand: the AWS SDK signs
// requests but has no verifier, and re-signing a received request with the
// SDK's signer would sign the headers it chooses, not the ones the client
// listed in SignedHeaders.

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	maxClockSkew = 15 * time.Minute
)

// authHeader is a parsed Authorization header.
type authHeader struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAuthorization(h string) (authHeader, bool) {
	var a authHeader
	rest, ok := strings.CutPrefix(h, sigAlgorithm+" ")
	if !ok {
		return a, false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, false
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, false
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.accessKey != "" && len(a.signedHeaders) > 0 && a.signature != ""
}

// verifySigV4 checks the request's signature with the secret that
// secretFor returns for its access key. It returns the parsed header.
func verifySigV4(r *http.Request, body []byte, now time.Time, secretFor func(accessKey string) (string, *APIError)) (authHeader, *APIError) {
	raw := r.Header.Get("Authorization")
	if raw == "" {
		return authHeader{}, &APIError{Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token", Status: http.StatusBadRequest}
	}
	a, ok := parseAuthorization(raw)
	if !ok {
		return a, &APIError{Code: "IncompleteSignatureException", Message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.", Status: http.StatusBadRequest}
	}
	if apiErr := checkSignedHeaders(r, a.signedHeaders); apiErr != nil {
		return a, apiErr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, a.date) {
		return a, &APIError{Code: "IncompleteSignatureException", Message: "X-Amz-Date is missing or does not match the credential scope.", Status: http.StatusBadRequest}
	}
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return a, &APIError{Code: "InvalidSignatureException", Message: "Signature expired: " + amzDate + " is now earlier or later than " + now.UTC().Format("20060102T150405Z") + " by more than 15 minutes.", Status: http.StatusBadRequest}
	}
	secret, apiErr := secretFor(a.accessKey)
	if apiErr != nil {
		return a, apiErr
	}
	payloadHash := sha256Hex(body)
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash && h != "UNSIGNED-PAYLOAD" {
		return a, &APIError{Code: "InvalidSignatureException", Message: "The provided 'x-amz-content-sha256' header does not match what was computed.", Status: http.StatusBadRequest}
	}
	want := signature(secret, a, amzDate, canonicalRequest(r, a.signedHeaders, payloadHash))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return a, &APIError{Code: "InvalidSignatureException", Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.", Status: http.StatusBadRequest}
	}
	return a, nil
}

// requiredSignedHeaders must be covered by every signature. The signature
// binds only the headers listed in SignedHeaders, so an unlisted one can be
// edited in transit: X-Amz-Target chooses the operation (a captured
// GetParameter would become a DeleteParameter), Host the endpoint the
// signature was meant for, Content-Type how the body is read.
var requiredSignedHeaders = []string{"host", "x-amz-date", "x-amz-target", "content-type"}

// checkSignedHeaders refuses a request whose SignedHeaders leaves out a
// required header, or an x-amz-* header the request carries, answering as
// AWS does for a Host left out: IncompleteSignatureException, 400.
func checkSignedHeaders(r *http.Request, signed []string) *APIError {
	listed := make(map[string]bool, len(signed))
	for _, h := range signed {
		listed[strings.ToLower(h)] = true
	}
	missing := make(map[string]bool)
	for _, h := range requiredSignedHeaders {
		if !listed[h] {
			missing[h] = true
		}
	}
	for name := range r.Header {
		h := strings.ToLower(name)
		if strings.HasPrefix(h, "x-amz-") && !listed[h] {
			missing[h] = true
		}
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for h := range missing {
		names = append(names, "'"+h+"'")
	}
	sort.Strings(names)
	return &APIError{Code: "IncompleteSignatureException", Message: "SignedHeaders in the AWS Authorization must include " + strings.Join(names, ", ") + ".", Status: http.StatusBadRequest}
}

// signature is the hex HMAC of a canonical request under the key derived
// from secret and a's credential scope.
func signature(secret string, a authHeader, amzDate, canonical string) string {
	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	stringToSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	key := hmacSHA256([]byte("AWS4"+secret), a.date)
	for _, part := range []string{a.region, a.service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path + "\n")
	b.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = r.Header.Get("Content-Length")
			if v == "" && r.ContentLength >= 0 {
				v = itoa(r.ContentLength)
			}
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		b.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n" + payloadHash)
	return b.String()
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
