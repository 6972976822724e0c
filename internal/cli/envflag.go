package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ssmEnvFlag overrides a project's ssm_env, what #{ssm_env} expands to.
// It was --env, which was too easily taken for -e, the run variable
// (-e/--var NAME=VALUE): --env is refused with a hint (refuseOldEnvFlag).
const ssmEnvFlag = "ssm-env"

// oldEnvFlag is the refused spelling.
const oldEnvFlag = "env"

// refuseOldEnvFlag registers --env, hidden, so that checkOldEnvFlag can
// refuse it with a hint rather than cobra with "unknown flag".
func refuseOldEnvFlag(fs *pflag.FlagSet) {
	fs.String(oldEnvFlag, "", "")
	_ = fs.MarkHidden(oldEnvFlag)
}

// checkOldEnvFlag refuses --env (exit 2), pointing at --ssm-env and at
// -e/--var, which the value looks like when it holds a '='; the hint's
// example uses only the flags the command has.
func checkOldEnvFlag(cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup(oldEnvFlag)
	if fl == nil || !fl.Changed || !fl.Hidden {
		return nil
	}
	const hint = "--env is now --ssm-env; -e/--var sets a variable"
	v := fl.Value.String()
	hasVar, hasSSMEnv := cmd.Flags().Lookup("var") != nil, cmd.Flags().Lookup(ssmEnvFlag) != nil
	switch {
	case strings.Contains(v, "=") && hasVar:
		return usageError("%s: %s -e %s", hint, cmd.CommandPath(), v)
	case hasSSMEnv:
		return usageError("%s: %s --ssm-env %s", hint, cmd.CommandPath(), v)
	}
	return usageError("%s (%s takes no --ssm-env: it keeps the run's)", hint, cmd.CommandPath())
}
