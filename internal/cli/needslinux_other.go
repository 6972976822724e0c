//go:build !linux

package cli

import (
	"runtime"

	"github.com/spf13/cobra"
)

// The commands that execute runs or serve them isolate each run with
// Linux's users, namespaces and cgroups, and exist on Linux only. Here
// they are still listed, and say so with the usage status (2, a
// configuration error): the client commands are the ones for this system.

func newServerCommand(*CLI) *cobra.Command {
	return needsLinux("server", "Run the jetway server (Linux only)", false)
}

func newAgentCommand(*CLI) *cobra.Command {
	return needsLinux("agent", "Execute the server's runs on this machine (Linux only)", false)
}

func newRunnerExecCommand(*CLI) *cobra.Command {
	return needsLinux("runner-exec", "Execute one run for the server (Linux only)", true)
}

func needsLinux(name, short string, hidden bool) *cobra.Command {
	return &cobra.Command{
		Use:                name,
		Short:              short,
		Hidden:             hidden,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return usageError("jetway %s needs Linux, and this is %s/%s: it isolates each run with Linux's users, namespaces and cgroups; run it on a Linux machine (jetway deploy, run, runs, logs and the other client commands work here)",
				name, runtime.GOOS, runtime.GOARCH)
		},
	}
}
