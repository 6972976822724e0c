package server

import (
	"slices"
	"testing"

	"github.com/jetway-dev/jetway/internal/record"
)

// A run token reads its variables' references and its build's secrets,
// nothing else.
func TestRunRefsIncludeBuildSecrets(t *testing.T) {
	run := record.Run{ProjectFile: `project: app
ssm_env: dev
env:
  vars:
    DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
image:
  name: registry.internal:5000/app
  secrets:
    npmrc: SSM:/#{ssm_env}/NPMRC
    api_key: SECRET:app:api_key
phases:
  build: [make]
`}
	run.Env = "dev"
	parameters, secrets := runRefs(run)
	slices.Sort(parameters)
	if !slices.Equal(parameters, []string{"/dev/DOCKER_PASS", "/dev/NPMRC"}) || !slices.Equal(secrets, []string{"app"}) {
		t.Fatalf("parameters %q, secrets %q", parameters, secrets)
	}
}
