package cli

import (
	"strings"
	"testing"
)

func TestOldEnvFlagRefused(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "JETWAY_RUNTIME_DIR": t.TempDir()}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"deploy ssm_env", []string{"deploy", "--env", "prod"}, "--env is now --ssm-env; -e/--var sets a variable: jetway deploy --ssm-env prod"},
		{"deploy variable", []string{"deploy", "--env", "LOG_LEVEL=debug"}, "--env is now --ssm-env; -e/--var sets a variable: jetway deploy -e LOG_LEVEL=debug"},
		{"run", []string{"run", "--env=prod", "."}, "--env is now --ssm-env; -e/--var sets a variable: jetway run --ssm-env prod"},
		{"run with a variable", []string{"run", "--env", "A=b"}, "jetway run --ssm-env A=b"},
		{"rerun", []string{"rerun", "abc", "--env", "prod"}, "--env is now --ssm-env; -e/--var sets a variable (jetway rerun takes no --ssm-env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errb := runJetway(t, env, tc.args...)
			if code != ExitUsage || !strings.Contains(errb, tc.want) {
				t.Errorf("%v: %d %q, want 2 and %q", tc.args, code, errb, tc.want)
			}
		})
	}
}

// The help of deploy, run and rerun names --ssm-env and -e/--var, never
// --env.
func TestEnvFlagsHelp(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir()}
	for _, tc := range []struct {
		cmd             string
		ssmEnv, varFlag bool
	}{{"deploy", true, true}, {"run", true, false}, {"rerun", false, true}} {
		code, out, _ := runJetway(t, env, tc.cmd, "--help")
		if code != 0 || strings.Contains(out, "--env") {
			t.Errorf("%s --help: %d, mentions --env:\n%s", tc.cmd, code, out)
		}
		if strings.Contains(out, "--ssm-env string") != tc.ssmEnv || strings.Contains(out, "-e, --var stringArray") != tc.varFlag {
			t.Errorf("%s --help: --ssm-env %v, -e/--var %v wanted:\n%s", tc.cmd, tc.ssmEnv, tc.varFlag, out)
		}
	}
}
