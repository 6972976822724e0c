package params

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBoto3Scenarios drives the store with boto3 (Debian's python3-boto3):
// chamber's, the Terraform AWS provider's and a script's call sequences,
// in testdata/boto3_scenarios.py, on each engine.
func TestBoto3Scenarios(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(python, "-c", "import boto3").Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3 with boto3 is needed (apt-get install python3-boto3): %v", err)
		}
		t.Skipf("python3 with boto3 is not installed: %v", err)
	}
	onEachEngine(t, func(t *testing.T, s *testServer) {
		cmd := exec.Command(python, "testdata/boto3_scenarios.py")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "JETWAY_ENDPOINT=" + s.URL,
			"AWS_ACCESS_KEY_ID=" + s.Admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + s.Admin.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("boto3 scenarios: %v\n%s", err, out)
		}
	})
}
