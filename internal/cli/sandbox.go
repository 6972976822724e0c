package cli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/sandbox"
)

// sandboxFlags are where a machine makes its run sandboxes, for the
// commands that execute runs.
type sandboxFlags struct {
	workDir string
	uids    string
	limits  string
}

func (f *sandboxFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.workDir, "work-dir", "", "where run sandboxes are made; not under /tmp, /var/tmp or /dev/shm (default /var/lib/jetway-runs as root)")
	fs.StringVar(&f.uids, "run-uids", sandbox.DefaultUIDs.String(), "UID range of the per-run users (root only); a UID is used by one run at a time and comes back only after the whole range")
	fs.StringVar(&f.limits, "limits", "", "limits of every run on this machine, e.g. memory=4g,pids=1024,cpus=2: each is a run's default and its ceiling (jetway.yaml's limits: may ask for less, never more or none)")
}

func (f *sandboxFlags) config(c *CLI) (sandbox.Config, error) {
	uids, err := sandbox.ParseUIDRange(f.uids)
	if err != nil {
		return sandbox.Config{}, usageError("--run-uids: %v", err)
	}
	max, err := config.ParseMachineLimits(f.limits)
	if err != nil {
		return sandbox.Config{}, usageError("--limits: %v", err)
	}
	return sandbox.Config{WorkDir: f.workDir, UIDs: uids, Logger: c.Logger(),
		MaxLimits: sandbox.Limits{MemoryBytes: max.MemoryBytes, PIDs: max.PIDs, CPUs: max.CPUs}}, nil
}

// sandboxConfigFromEnv is how the server hands its sandbox settings to the
// runners it starts.
func sandboxConfigFromEnv(c *CLI) (sandbox.Config, error) {
	f := sandboxFlags{workDir: c.Getenv("JETWAY_WORK_DIR"), uids: c.Getenv("JETWAY_RUN_UIDS"), limits: c.Getenv("JETWAY_LIMITS")}
	if f.uids == "" {
		f.uids = sandbox.DefaultUIDs.String()
	}
	return f.config(c)
}

// newSandboxInitCommand is PID 1 of a run's namespaces, started by the
// runner; see internal/sandbox.
func newSandboxInitCommand() *cobra.Command {
	return &cobra.Command{
		Use:    sandbox.InitArg + " DIR",
		Short:  "Hold a run's namespaces (started by the runner)",
		Hidden: true,
		Args:   exactArgs(1, "DIR"),
		RunE: func(_ *cobra.Command, args []string) error {
			if code := sandbox.InitMain(args[0]); code != 0 {
				return withExit(code, errors.New("the sandbox init failed"))
			}
			return nil
		},
	}
}
