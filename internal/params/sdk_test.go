package params

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func put(t *testing.T, c *ssm.Client, name, typ, value string, overwrite bool) int64 {
	t.Helper()
	out, err := c.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(name), Type: ssmtypes.ParameterType(typ), Value: aws.String(value), Overwrite: aws.Bool(overwrite)})
	if err != nil {
		t.Fatalf("PutParameter %s: %v", name, err)
	}
	return out.Version
}

const sshKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDjKqp5Fc65tEnRulDqKii7Gm4B+QvaJFotHYdpfRiiZQAAAJhA8Y1zQPGN\n-----END OPENSSH PRIVATE KEY-----\n"

func TestSSMWithTheSDK(t *testing.T) { onEachEngine(t, testSSMWithTheSDK) }

func testSSMWithTheSDK(t *testing.T, s *testServer) {
	c := s.adminSSM()
	ctx := context.Background()

	if v := put(t, c, "/dev/DOCKER_USER", "String", "deploybot", false); v != 1 {
		t.Fatalf("first version = %d", v)
	}
	_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/dev/DOCKER_USER"), Type: "String", Value: aws.String("x")})
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("put without overwrite = %v, want ParameterAlreadyExists", err)
	}
	if v := put(t, c, "/dev/DOCKER_USER", "String", "deploybot2", true); v != 2 {
		t.Fatalf("overwrite version = %d", v)
	}
	put(t, c, "/dev/JETS_SSH_KEY", "SecureString", sshKey, false)
	put(t, c, "/dev/list", "StringList", "a,b,c", false)
	put(t, c, "/dev/deep/x", "String", "deep", false)
	put(t, c, "/prod/y", "String", "prod", false)

	t.Run("GetParameter decrypts a multi-line key byte for byte", func(t *testing.T) {
		got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/JETS_SSH_KEY"), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(got.Parameter.Value) != sshKey || got.Parameter.Type != ssmtypes.ParameterTypeSecureString {
			t.Fatalf("got %q (%s)", aws.ToString(got.Parameter.Value), got.Parameter.Type)
		}
		if !strings.HasPrefix(aws.ToString(got.Parameter.ARN), "arn:aws:ssm:eu-west-1:") {
			t.Errorf("ARN %s", aws.ToString(got.Parameter.ARN))
		}
		enc, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/JETS_SSH_KEY")})
		if err != nil {
			t.Fatal(err)
		}
		if v := aws.ToString(enc.Parameter.Value); v == sshKey || strings.Contains(v, "OPENSSH") {
			t.Fatalf("without decryption the value is readable: %q", v)
		}
	})
	t.Run("GetParameter by version", func(t *testing.T) {
		got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/DOCKER_USER:1")})
		if err != nil || aws.ToString(got.Parameter.Value) != "deploybot" || got.Parameter.Version != 1 {
			t.Fatalf("got %+v, %v", got, err)
		}
		_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/DOCKER_USER:9")})
		var notFound *ssmtypes.ParameterVersionNotFound
		if !errors.As(err, &notFound) {
			t.Fatalf("missing version = %v", err)
		}
	})
	t.Run("GetParameter missing", func(t *testing.T) {
		_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/nope")})
		var notFound *ssmtypes.ParameterNotFound
		if !errors.As(err, &notFound) {
			t.Fatalf("got %v, want ParameterNotFound", err)
		}
	})
	t.Run("GetParameters reports invalid names", func(t *testing.T) {
		got, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/dev/DOCKER_USER", "/dev/nope", "/dev/JETS_SSH_KEY"}, WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Parameters) != 2 || len(got.InvalidParameters) != 1 || got.InvalidParameters[0] != "/dev/nope" {
			t.Fatalf("got %d parameters, invalid %v", len(got.Parameters), got.InvalidParameters)
		}
		_, err = c.GetParameters(ctx, &ssm.GetParametersInput{Names: strings.Split("a b c d e f g h i j k", " ")})
		if errorCode(err) != "ValidationException" {
			t.Fatalf("11 names = %v", err)
		}
	})
	t.Run("GetParametersByPath", func(t *testing.T) {
		names := func(recursive bool, max int32) []string {
			var out []string
			p := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{Path: aws.String("/dev"), Recursive: aws.Bool(recursive), MaxResults: aws.Int32(max), WithDecryption: aws.Bool(true)})
			pages := 0
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, prm := range page.Parameters {
					out = append(out, aws.ToString(prm.Name))
				}
			}
			if max == 1 && pages < len(out) {
				t.Errorf("%d pages for %d results with MaxResults 1", pages, len(out))
			}
			return out
		}
		if got := strings.Join(names(false, 10), " "); got != "/dev/DOCKER_USER /dev/JETS_SSH_KEY /dev/list" {
			t.Errorf("one level: %s", got)
		}
		if got := strings.Join(names(true, 1), " "); got != "/dev/DOCKER_USER /dev/JETS_SSH_KEY /dev/deep/x /dev/list" {
			t.Errorf("recursive, paged: %s", got)
		}
		_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/dev"), MaxResults: aws.Int32(11)})
		if errorCode(err) != "ValidationException" {
			t.Errorf("MaxResults 11 = %v", err)
		}
	})
	t.Run("DescribeParameters pages and hides values", func(t *testing.T) {
		var all []ssmtypes.ParameterMetadata
		p := ssm.NewDescribeParametersPaginator(c, &ssm.DescribeParametersInput{MaxResults: aws.Int32(2)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page.Parameters...)
		}
		if len(all) != 5 {
			t.Fatalf("%d parameters described", len(all))
		}
		for _, m := range all {
			if aws.ToString(m.Name) == "/dev/JETS_SSH_KEY" && (m.Type != ssmtypes.ParameterTypeSecureString || aws.ToString(m.KeyId) == "") {
				t.Errorf("secure metadata %+v", m)
			}
		}
	})
	t.Run("GetParameterHistory", func(t *testing.T) {
		h, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/dev/DOCKER_USER")})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Parameters) != 2 || aws.ToString(h.Parameters[0].Value) != "deploybot" || h.Parameters[1].Version != 2 {
			t.Fatalf("history %+v", h.Parameters)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/prod/y")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/prod/y")})
		var notFound *ssmtypes.ParameterNotFound
		if !errors.As(err, &notFound) {
			t.Fatalf("second delete = %v", err)
		}
		out, err := c.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: []string{"/dev/list", "/dev/none"}})
		if err != nil || len(out.DeletedParameters) != 1 || len(out.InvalidParameters) != 1 {
			t.Fatalf("DeleteParameters = %+v, %v", out, err)
		}
	})
	t.Run("bad names", func(t *testing.T) {
		for _, name := range []string{"dev/x", "/dev/a b", "/aws/x", ""} {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: "String", Value: aws.String("v")})
			if errorCode(err) != "ValidationException" {
				t.Errorf("PutParameter(%q) = %v, want ValidationException", name, err)
			}
		}
	})
}

func TestSecretsManagerWithTheSDK(t *testing.T) { onEachEngine(t, testSecretsManagerWithTheSDK) }

func testSecretsManagerWithTheSDK(t *testing.T, s *testServer) {
	c := s.adminSM()
	ctx := context.Background()
	created, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String(`{"user":"app","password":"s3cr3t-pw"}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String("x")})
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("second create = %v", err)
	}
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	if err != nil || aws.ToString(got.SecretString) != `{"user":"app","password":"s3cr3t-pw"}` || aws.ToString(got.Name) != "prod/db" {
		t.Fatalf("get by ARN = %+v, %v", got, err)
	}
	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String(`{"password":"rotated-pw"}`)})
	if err != nil || aws.ToString(put.VersionId) == aws.ToString(created.VersionId) {
		t.Fatalf("put = %+v, %v", put, err)
	}
	got, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
	if err != nil || aws.ToString(got.SecretString) != `{"password":"rotated-pw"}` {
		t.Fatalf("get after put = %+v, %v", got, err)
	}
	old, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionId: created.VersionId})
	if err != nil || !strings.Contains(aws.ToString(old.SecretString), "s3cr3t-pw") {
		t.Fatalf("get old version = %+v, %v", old, err)
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: []byte{0, 1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	bin, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	if err != nil || !bytes.Equal(bin.SecretBinary, []byte{0, 1, 2, 3}) {
		t.Fatalf("binary = %+v, %v", bin, err)
	}
	list, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if err != nil || len(list.SecretList) != 2 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("bin")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	var invalid *smtypes.InvalidRequestException
	if !errors.As(err, &invalid) {
		t.Fatalf("get of a secret marked for deletion = %v", err)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("prod/db"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
	var notFound *smtypes.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("get after forced delete = %v", err)
	}
}

func TestScopedCredentials(t *testing.T) { onEachEngine(t, testScopedCredentials) }

func testScopedCredentials(t *testing.T, s *testServer) {
	ctx := context.Background()
	put(t, s.adminSSM(), "/dev/A", "SecureString", "value-a", false)
	put(t, s.adminSSM(), "/dev/B", "SecureString", "value-b", false)
	if _, err := s.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s1"), SecretString: aws.String("one")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s2"), SecretString: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	s.Runs.start("run-1")
	key := s.issue(t, Scope{Parameters: []string{"/dev/A"}, Secrets: []string{"s1"}, TTL: time.Minute, RunID: "run-1"})
	c, sm := s.ssmClient(key.AccessKeyID, key.SecretAccessKey), s.smClient(key.AccessKeyID, key.SecretAccessKey)

	if got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/A"), WithDecryption: aws.Bool(true)}); err != nil || aws.ToString(got.Parameter.Value) != "value-a" {
		t.Fatalf("allowed read = %v", err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s1")}); err != nil {
		t.Fatalf("allowed secret = %v", err)
	}
	denied := map[string]error{}
	_, denied["GetParameter other"] = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/B"), WithDecryption: aws.Bool(true)})
	_, denied["GetParameters with one other"] = c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/dev/A", "/dev/B"}})
	_, denied["GetParametersByPath"] = c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/dev")})
	_, denied["PutParameter"] = c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/dev/A"), Type: "String", Value: aws.String("x"), Overwrite: aws.Bool(true)})
	_, denied["GetSecretValue other"] = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s2")})
	_, denied["GetSecretValue missing"] = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s3")})
	for what, err := range denied {
		if errorCode(err) != "AccessDeniedException" {
			t.Errorf("%s: %v, want AccessDeniedException", what, err)
		}
	}
	// A run store that fails is an error the client may retry, not a key
	// refused for good (which would fail the run).
	s.Runs.fail(errors.New("the database is down"))
	once := ssm.NewFromConfig(s.config(key.AccessKeyID, key.SecretAccessKey), func(o *ssm.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.RetryMaxAttempts = 1
	})
	_, err := once.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/A")})
	if errorCode(err) != "InternalServerError" {
		t.Fatalf("while the run store fails: %v", err)
	}
	s.Runs.fail(nil)
	s.Runs.end("run-1")
	_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/A")})
	if errorCode(err) != "ExpiredTokenException" {
		t.Fatalf("after the run ended: %v", err)
	}
	key = s.issue(t, Scope{Parameters: []string{"/dev/A"}, TTL: time.Minute})
	s.Keys.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	_, err = s.ssmClient(key.AccessKeyID, key.SecretAccessKey).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/dev/A")})
	if errorCode(err) != "ExpiredTokenException" {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestResolver(t *testing.T) { onEachEngine(t, testResolver) }

func testResolver(t *testing.T, s *testServer) {
	ctx := context.Background()
	for i := range 23 { // more than two batches of 10
		put(t, s.adminSSM(), fmt.Sprintf("/dev/P%02d", i), "String", fmt.Sprintf("plain-%d", i), false)
	}
	put(t, s.adminSSM(), "/dev/JETS_SSH_KEY", "SecureString", sshKey, false)
	if _, err := s.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String(`{"password":"pw-1234","port":5432}`)}); err != nil {
		t.Fatal(err)
	}
	var refs []config.Ref
	var names []string
	for i := range 23 {
		refs = append(refs, config.Ref{Store: config.ParameterStore, Name: fmt.Sprintf("/dev/P%02d", i)})
		names = append(names, refs[i].Name)
	}
	key := config.Ref{Store: config.ParameterStore, Name: "/dev/JETS_SSH_KEY"}
	pw := config.Ref{Store: config.SecretsManager, Name: "prod/db", JSONKey: "password"}
	port := config.Ref{Store: config.SecretsManager, Name: "prod/db", JSONKey: "port"}
	whole := config.Ref{Store: config.SecretsManager, Name: "prod/db"}
	refs = append(refs, key, pw, port, whole)
	pair := s.issue(t, Scope{Parameters: append(names, key.Name), Secrets: []string{"prod/db"}, TTL: time.Minute})
	r, err := resolve.New(ctx, resolve.Options{Endpoint: s.URL, Region: "us-east-1", Credentials: s.config(pair.AccessKeyID, pair.SecretAccessKey).Credentials})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[refs[22]].Value) != "plain-22" || got[refs[0]].Secure {
		t.Errorf("plain parameter: %+v", got[refs[22]])
	}
	if string(got[key].Value) != sshKey || !got[key].Secure {
		t.Errorf("secure parameter: %+v", got[key])
	}
	if string(got[pw].Value) != "pw-1234" || string(got[port].Value) != "5432" || !got[whole].Secure {
		t.Errorf("secret keys: %q %q", got[pw].Value, got[port].Value)
	}

	missingParam := config.Ref{Store: config.ParameterStore, Name: "/dev/NOPE"}
	missingSecret := config.Ref{Store: config.SecretsManager, Name: "nope"}
	pair = s.issue(t, Scope{Parameters: []string{"/dev/NOPE", "/dev/P00"}, Secrets: []string{"nope"}, TTL: time.Minute})
	r, _ = resolve.New(ctx, resolve.Options{Endpoint: s.URL, Region: "us-east-1", Credentials: s.config(pair.AccessKeyID, pair.SecretAccessKey).Credentials})
	_, err = r.Resolve(ctx, []config.Ref{refs[0], missingParam, missingSecret})
	var missing *resolve.MissingError
	if !errors.As(err, &missing) || len(missing.Missing) != 2 {
		t.Fatalf("Resolve = %v, want both missing references", err)
	}
	_ = missingSecret

	// A name of one level is one parameter with or without its slash, as
	// on AWS: either spelling resolves, whichever the store has.
	put(t, s.adminSSM(), "/TOP", "SecureString", "top-value", false)
	put(t, s.adminSSM(), "BARE", "String", "bare-value", false)
	top, bare := config.Ref{Store: config.ParameterStore, Name: "TOP"}, config.Ref{Store: config.ParameterStore, Name: "/BARE"}
	pair = s.issue(t, Scope{Parameters: []string{"TOP", "/BARE"}, TTL: time.Minute})
	r, _ = resolve.New(ctx, resolve.Options{Endpoint: s.URL, Region: "us-east-1", Credentials: s.config(pair.AccessKeyID, pair.SecretAccessKey).Credentials})
	got, err = r.Resolve(ctx, []config.Ref{top, bare})
	if err != nil || string(got[top].Value) != "top-value" || string(got[bare].Value) != "bare-value" {
		t.Fatalf("one-level names in the other spelling: %q %q %v", got[top].Value, got[bare].Value, err)
	}
}

// TestSecureValuesAreEncryptedAtRest searches every file of the data dir,
// and every column of every table of the database, for the plaintext of
// secure values and of access keys' secrets.
func TestSecureValuesAreEncryptedAtRest(t *testing.T) {
	onEachEngine(t, testSecureValuesAreEncryptedAtRest)
}

func testSecureValuesAreEncryptedAtRest(t *testing.T, s *testServer) {
	ctx := context.Background()
	const plainParam = "very-distinctive-parameter-plaintext-4711"
	const plainSecret = "very-distinctive-secret-plaintext-0815"
	put(t, s.adminSSM(), "/dev/SECURE", "SecureString", plainParam, false)
	put(t, s.adminSSM(), "/dev/SECURE", "SecureString", plainParam+"-v2", true)
	if _, err := s.adminSM().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("sec"), SecretString: aws.String(plainSecret)}); err != nil {
		t.Fatal(err)
	}
	s.Runs.start("run-1")
	scoped := s.issue(t, Scope{Parameters: []string{"/dev/SECURE"}, TTL: time.Minute, RunID: "run-1"})
	// The search finds what is stored in the clear.
	const plainString = "very-distinctive-plain-string-1234"
	put(t, s.adminSSM(), "/dev/PLAIN", "String", plainString, false)
	cells := dbCells(t, s.DB)
	if !bytes.Contains(cells, []byte(plainString)) {
		t.Fatal("the search of the database does not find a String parameter's value")
	}
	for _, plain := range []string{plainParam, plainSecret, scoped.SecretAccessKey, s.Admin.SecretAccessKey} {
		if bytes.Contains(cells, []byte(plain)) {
			t.Errorf("the database holds the plaintext %q", plain)
		}
	}
	for _, dir := range []string{s.DataDir} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, plain := range []string{plainParam, plainSecret, scoped.SecretAccessKey} {
				if bytes.Contains(data, []byte(plain)) {
					t.Errorf("%s holds the plaintext %q", path, plain)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	info, err := os.Stat(filepath.Join(s.DataDir, "master.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("master key mode: %v %v", info.Mode(), err)
	}
	for _, f := range []string{s.Admin.CredentialsFile, s.Admin.ConfigFile} {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// dbCells returns every value of every column of every table of db, one a
// line, as stored.
func dbCells(t *testing.T, db *sqldb.DB) []byte {
	t.Helper()
	ctx := context.Background()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if db.Dialect == sqldb.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("tables %v: the search would miss the store's", tables)
	}
	var out bytes.Buffer
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			cells := make([]any, len(cols))
			for i := range cells {
				cells[i] = new(sql.RawBytes)
			}
			if err := rows.Scan(cells...); err != nil {
				t.Fatal(err)
			}
			for _, c := range cells {
				out.Write(*c.(*sql.RawBytes))
				out.WriteByte('\n')
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out.Bytes()
}
