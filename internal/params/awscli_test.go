package params

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAWSCLI drives the embedded store with the real AWS CLI (v1 or v2),
// configured only by the files the server writes into its data dir.
func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the AWS CLI is not installed (apt-get install awscli)")
		}
		t.Skip("the AWS CLI is not installed")
	}
	onEachEngine(t, func(t *testing.T, s *testServer) { testAWSCLI(t, bin, s) })
}

func testAWSCLI(t *testing.T, bin string, s *testServer) {
	aws := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, append([]string{"--profile", "jetway", "--endpoint-url", s.URL, "--output", "json"}, args...)...)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_PAGER=",
			"AWS_SHARED_CREDENTIALS_FILE=" + s.Admin.CredentialsFile, "AWS_CONFIG_FILE=" + s.Admin.ConfigFile,
		}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	mustJSON := func(args ...string) map[string]any {
		t.Helper()
		out, errOut, err := aws(args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		var v map[string]any
		if strings.TrimSpace(out) == "" {
			return v
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("aws %s printed %q", strings.Join(args, " "), out)
		}
		return v
	}

	put := mustJSON("ssm", "put-parameter", "--name", "/dev/JETS_SSH_KEY", "--type", "SecureString", "--value", sshKey)
	if put["Version"] != float64(1) {
		t.Fatalf("put-parameter: %v", put)
	}
	got := mustJSON("ssm", "get-parameter", "--name", "/dev/JETS_SSH_KEY", "--with-decryption")
	if p := got["Parameter"].(map[string]any); p["Value"] != sshKey {
		t.Fatalf("get-parameter: %q", p["Value"])
	}
	mustJSON("ssm", "put-parameter", "--name", "/dev/DOCKER_USER", "--type", "String", "--value", "deploybot")
	byPath := mustJSON("ssm", "get-parameters-by-path", "--path", "/dev", "--recursive", "--max-items", "5")
	if n := len(byPath["Parameters"].([]any)); n != 2 {
		t.Fatalf("get-parameters-by-path: %d parameters", n)
	}
	desc := mustJSON("ssm", "describe-parameters")
	if n := len(desc["Parameters"].([]any)); n != 2 {
		t.Fatalf("describe-parameters: %d", n)
	}
	mustJSON("ssm", "delete-parameter", "--name", "/dev/DOCKER_USER")
	_, errOut, err := aws("ssm", "get-parameter", "--name", "/dev/DOCKER_USER")
	if err == nil || !strings.Contains(errOut, "ParameterNotFound") {
		t.Fatalf("get-parameter of a deleted parameter: %v %s", err, errOut)
	}
	_, errOut, err = aws("ssm", "put-parameter", "--name", "/dev/JETS_SSH_KEY", "--type", "SecureString", "--value", "x")
	if err == nil || !strings.Contains(errOut, "ParameterAlreadyExists") {
		t.Fatalf("put-parameter over an existing one: %v %s", err, errOut)
	}

	mustJSON("secretsmanager", "create-secret", "--name", "prod/db", "--secret-string", `{"password":"pw"}`)
	sec := mustJSON("secretsmanager", "get-secret-value", "--secret-id", "prod/db")
	if sec["SecretString"] != `{"password":"pw"}` {
		t.Fatalf("get-secret-value: %v", sec)
	}
	list := mustJSON("secretsmanager", "list-secrets")
	if n := len(list["SecretList"].([]any)); n != 1 {
		t.Fatalf("list-secrets: %d", n)
	}
	// The newer operations, as the CLI spells them.
	mustJSON("ssm", "add-tags-to-resource", "--resource-type", "Parameter", "--resource-id", "/dev/JETS_SSH_KEY", "--tags", "Key=env,Value=dev")
	tags := mustJSON("ssm", "list-tags-for-resource", "--resource-type", "Parameter", "--resource-id", "/dev/JETS_SSH_KEY")
	if n := len(tags["TagList"].([]any)); n != 1 {
		t.Fatalf("list-tags-for-resource: %v", tags)
	}
	filtered := mustJSON("ssm", "describe-parameters", "--parameter-filters", "Key=tag:env,Values=dev", "Key=Type,Values=SecureString")
	if n := len(filtered["Parameters"].([]any)); n != 1 {
		t.Fatalf("describe-parameters with filters: %v", filtered)
	}
	mustJSON("secretsmanager", "tag-resource", "--secret-id", "prod/db", "--tags", "Key=team,Value=core")
	described := mustJSON("secretsmanager", "describe-secret", "--secret-id", "prod/db")
	if n := len(described["Tags"].([]any)); n != 1 {
		t.Fatalf("describe-secret: %v", described)
	}
	byTag := mustJSON("secretsmanager", "list-secrets", "--filters", "Key=tag-key,Values=team")
	if n := len(byTag["SecretList"].([]any)); n != 1 {
		t.Fatalf("list-secrets --filters: %v", byTag)
	}
	_, errOut, err = aws("secretsmanager", "get-secret-value", "--secret-id", "nope")
	if err == nil || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Fatalf("get-secret-value of a missing secret: %v %s", err, errOut)
	}

	// A wrong key is refused, as AWS refuses it.
	bad := t.TempDir() + "/credentials"
	if err := os.WriteFile(bad, []byte("[jetway]\naws_access_key_id = "+s.Admin.AccessKeyID+"\naws_secret_access_key = wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Admin.CredentialsFile = bad
	_, errOut, err = aws("ssm", "describe-parameters")
	if err == nil || !strings.Contains(errOut, "InvalidSignatureException") {
		t.Fatalf("a wrong secret key: %v %s", err, errOut)
	}
}
