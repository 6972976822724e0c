package params

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AccountID is the account that the embedded store's ARNs name.
const AccountID = "000000000000"

// Principal is who signed a request, and what it may read.
type Principal struct {
	AccessKeyID string
	Admin       bool
	// Parameters and Secrets a scoped key may read (by name).
	Parameters map[string]bool
	Secrets    map[string]bool
	Expires    time.Time
	// Alive, when set, must still hold for the key to be accepted (a run's
	// key dies with its run).
	Alive func() bool
}

// Keys holds the access keys the store accepts: the admin pair from the
// data dir, and short-lived scoped pairs, which live in memory only.
type Keys struct {
	mu   sync.Mutex
	keys map[string]*accessKey
	now  func() time.Time
}

type accessKey struct {
	secret string
	who    Principal
}

// NewKeys returns an empty key set.
func NewKeys() *Keys {
	return &Keys{keys: map[string]*accessKey{}, now: time.Now}
}

func newKeyPair(prefix string) (id, secret string) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id = prefix + strings.ToUpper(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))[:16]
	var sec [30]byte
	_, _ = rand.Read(sec[:])
	return id, base64.StdEncoding.EncodeToString(sec[:])
}

// Issue makes a key pair that may read only the named parameters and
// secrets, until ttl has passed (and while alive, if given, holds).
func (k *Keys) Issue(parameters, secrets []string, ttl time.Duration, alive func() bool) (id, secret string, expires time.Time) {
	id, secret = newKeyPair("ASIA")
	who := Principal{AccessKeyID: id, Parameters: map[string]bool{}, Secrets: map[string]bool{}, Expires: k.now().Add(ttl), Alive: alive}
	for _, p := range parameters {
		who.Parameters[p] = true
	}
	for _, s := range secrets {
		who.Secrets[s] = true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for kid, key := range k.keys { // drop expired keys as we go
		if !key.who.Admin && k.now().After(key.who.Expires) {
			delete(k.keys, kid)
		}
	}
	k.keys[id] = &accessKey{secret: secret, who: who}
	return id, secret, who.Expires
}

func (k *Keys) addAdmin(id, secret string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[id] = &accessKey{secret: secret, who: Principal{AccessKeyID: id, Admin: true}}
}

// lookup returns the secret and principal for an access key id.
func (k *Keys) lookup(id string) (string, Principal, *APIError) {
	k.mu.Lock()
	key, ok := k.keys[id]
	k.mu.Unlock()
	if !ok {
		return "", Principal{}, &APIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", Status: http.StatusBadRequest}
	}
	if !key.who.Admin && (k.now().After(key.who.Expires) || (key.who.Alive != nil && !key.who.Alive())) {
		return "", Principal{}, &APIError{Code: "ExpiredTokenException", Message: "The security token included in the request is expired.", Status: http.StatusBadRequest}
	}
	return key.secret, key.who, nil
}

// AdminCredentials are the store's admin key pair and where they are kept.
type AdminCredentials struct {
	AccessKeyID, SecretAccessKey string
	CredentialsFile, ConfigFile  string
}

// LoadOrCreateAdmin reads the admin key pair from dataDir/credentials
// (profile jetway), creating it with dataDir/config on first start, both
// 0600, so that the AWS CLI works against the store with
// AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE pointing at them.
func (k *Keys) LoadOrCreateAdmin(dataDir string) (AdminCredentials, error) {
	c := AdminCredentials{CredentialsFile: filepath.Join(dataDir, "credentials"), ConfigFile: filepath.Join(dataDir, "config")}
	data, err := os.ReadFile(c.CredentialsFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.AccessKeyID, c.SecretAccessKey = newKeyPair("AKIA")
		creds := fmt.Sprintf("[jetway]\naws_access_key_id = %s\naws_secret_access_key = %s\n", c.AccessKeyID, c.SecretAccessKey)
		if err := writeNew(c.CredentialsFile, creds); err != nil {
			return c, err
		}
	case err != nil:
		return c, err
	default:
		c.AccessKeyID, c.SecretAccessKey = iniValue(string(data), "jetway", "aws_access_key_id"), iniValue(string(data), "jetway", "aws_secret_access_key")
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return c, fmt.Errorf("%s has no [jetway] profile with aws_access_key_id and aws_secret_access_key; remove the file to have a new key pair made", c.CredentialsFile)
		}
	}
	if _, err := os.Stat(c.ConfigFile); errors.Is(err, fs.ErrNotExist) {
		if err := writeNew(c.ConfigFile, "[profile jetway]\nregion = us-east-1\noutput = json\n"); err != nil {
			return c, err
		}
	}
	k.addAdmin(c.AccessKeyID, c.SecretAccessKey)
	return c, nil
}

func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// iniValue reads key from [section] of a small ini file.
func iniValue(ini, section, key string) string {
	in := false
	for _, line := range strings.Split(ini, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			in = strings.Trim(line, "[] ") == section
			continue
		}
		if k, v, ok := strings.Cut(line, "="); in && ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
