package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/runner"
)

type runOptions struct {
	clientFlags
	env         string
	file        string
	json        bool
	aws         bool
	ssmEndpoint string
	sandbox     sandboxFlags
	raw         bool
	docker      string
	exposeCreds bool
}

func newRunCommand(c *CLI) *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Run a project's phases and image build on this machine, as a runner would",
		Long: `Run one run of the project in DIR (default: the current directory) on this
machine, exactly as the server's runners do: a fresh sandbox (home and
workspace, removed afterwards), references resolved through the parameter
store, the Docker host from DOCKER_HOST (with JETS_SSH_KEY, JETS_SSH_KNOWN
and DOCKER_TLS_*), the registry login from DOCKER_USER/DOCKER_PASS, then the
phases and the image build. Every line of output passes the secret masker.

The phases reach the Docker host through the Docker guard, with the strict
policy a server gives a project nobody relaxed: no privileged containers,
no bind mounts of the host's paths, no host namespaces, devices or added
capabilities, and only the project's own containers, networks and volumes.
On your own machine you may relax it for this run: --docker takes the
allowances of jetway projects set (privileged, host-mounts, …), and
--expose-docker-credentials gives the phases ~/.ssh/id_rsa and the TLS files.

As root, the phases run as a user of their own (a fresh UID from --run-uids)
in their own PID, mount, IPC and network namespaces: they see only their
processes, get private /tmp, /var/tmp and /dev/shm, find the rest of the
machine read-only, reach the internet but not this machine or the Docker
host's addresses, and everything they start dies with the run. Without root
they run as you, and the log says what is not isolated.

References are read from the jetway server's parameter store with a key
pair that can read only them (--server/--token, as for every client
command), or with --aws from AWS itself (standard credentials and region).

Exit status: 0 succeeded, 1 failed, 2 usage or configuration error,
3 server or Docker host unreachable, 124 timed out, 130 cancelled.`,
		Example: `  jetway run
  jetway run examples/hello --ssm-env prod
  jetway run --aws --json
  jetway run --docker host-mounts   # phases may bind-mount the Docker host's paths`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runRun(cmd.Context(), c, opts, dir)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	opts.sandbox.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.env, ssmEnvFlag, "", "the environment #{ssm_env} expands to (default: ssm_env of jetway.yaml)")
	refuseOldEnvFlag(cmd.Flags())
	cmd.Flags().StringVarP(&opts.file, "file", "f", "", "project file (default DIR/jetway.yaml)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON event per line")
	cmd.Flags().BoolVar(&opts.raw, "raw", false, "print what phases write as it is (by default, of the terminal control sequences only colours are kept)")
	cmd.Flags().BoolVar(&opts.aws, "aws", false, "read references from AWS SSM and Secrets Manager instead of the jetway server")
	cmd.Flags().StringVar(&opts.docker, "docker", "", "Docker guard allowances for this run, comma-separated: "+strings.Join(api.DockerAllowances, ","))
	cmd.Flags().BoolVar(&opts.exposeCreds, "expose-docker-credentials", false, "give the phases the Docker host's credentials (they can then bypass the guard)")
	cmd.Flags().StringVar(&opts.ssmEndpoint, "ssm-endpoint", "", "endpoint of the SSM/Secrets Manager API (default $JETWAY_SSM_ENDPOINT, else the server's or AWS's)")
	return cmd
}

func runRun(ctx context.Context, c *CLI, opts runOptions, dir string) error {
	if err := canRunPhases(); err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return usageError("%v", err)
	}
	if info, err := os.Stat(abs); err != nil || !info.IsDir() {
		return usageError("%s is not a directory", dir)
	}
	file := opts.file
	if file == "" {
		file = filepath.Join(abs, config.FileName)
	}
	project, err := config.Load(file)
	if err != nil {
		return withExit(ExitUsage, err)
	}
	policy := api.DockerPolicy{ExposeCredentials: opts.exposeCreds}
	if policy.Allow, err = parseAllowances(opts.docker); err != nil {
		return usageError("%v", err)
	}
	sbConfig, err := opts.sandbox.config(c)
	if err != nil {
		return err
	}
	endpoint := first(opts.ssmEndpoint, c.Getenv("JETWAY_SSM_ENDPOINT"))
	runID := newRunID()
	// A phase's escape sequences must not reach the terminal (OSC 52
	// writes the clipboard); colours may.
	out := logOutput(c.Out, opts.raw)
	defer out.Flush()
	var sink runner.Sink = &humanSink{w: out}
	if opts.json {
		sink = &jsonSink{enc: json.NewEncoder(c.Out)}
	}
	summary := runner.Run(ctx, runner.Options{
		SourceDir: abs,
		Project:   project,
		Env:       opts.env,
		RunID:     runID,
		Resolve:   opts.resolver(c, endpoint),
		ClientEnv: os.Environ(),
		PhaseEnv:  phaseBaseEnv(c),
		Sink:      sink,
		Logger:    c.Logger(),
		Sandbox:   sbConfig,
		Docker:    policy,
	})
	if summary.ExitCode != 0 {
		return &exitError{code: summary.ExitCode, err: fmt.Errorf("run %s %s", runID, summary.Status)}
	}
	return nil
}

// resolver reads references through the jetway server's store with a
// scoped key pair, or from AWS.
func (o runOptions) resolver(c *CLI, endpoint string) func(context.Context, []config.Ref) (map[config.Ref]resolve.Resolved, error) {
	return func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error) {
		if o.aws {
			r, err := resolve.New(ctx, resolve.Options{Endpoint: endpoint})
			if err != nil {
				return nil, err
			}
			return r.Resolve(ctx, refs)
		}
		return o.client(c).Resolve(ctx, endpoint, refs)
	}
}

func phaseBaseEnv(c *CLI) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, k := range []string{"LANG", "TZ"} {
		if v := c.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	if c.Getenv("LANG") == "" {
		env = append(env, "LANG=C.UTF-8")
	}
	return env
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// jsonSink prints one event per line.
type jsonSink struct{ enc *json.Encoder }

func (s *jsonSink) Emit(e runner.Event) { _ = s.enc.Encode(e) }

// humanSink prints a readable live log with phase banners and a summary.
type humanSink struct{ w io.Writer }

func (s *humanSink) Emit(e runner.Event) { _, _ = io.WriteString(s.w, e.Text()) }
