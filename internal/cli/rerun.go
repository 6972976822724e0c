package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
)

type rerunOptions struct {
	clientFlags
	vars   []string
	detach bool
	raw    bool
}

func newRerunCommand(c *CLI) *cobra.Command {
	var opts rerunOptions
	cmd := &cobra.Command{
		Use:   "rerun ID [-e NAME=VALUE]…",
		Short: "Run a past run's source again: same files, project file and variables, references read anew",
		Long: `Start a new run from what run ID ran: the same source (the bundle stored
with it, whatever the directory holds now), the same jetway.yaml, the
same environment, passed and -e variables; references are resolved anew,
so a parameter changed since counts. -e NAME=VALUE adds or overrides
variables for the rerun, as with deploy. The new run records that it
reruns ID ('jetway runs show', the dashboard).

A run whose source the server no longer keeps (pruned by --retain-runs or
--retain-days) cannot be rerun: deploy that commit again.

Exit status: as jetway deploy.`,
		Example: `  jetway rerun 3f2a9c1d                   # roll back: rebuild and deploy an older run's source
  jetway rerun 3f2a9c1d -e LOG_LEVEL=debug`,
		Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRerun(cmd.Context(), c, opts, args[0])
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	refuseOldEnvFlag(cmd.Flags())
	cmd.Flags().StringArrayVarP(&opts.vars, "var", "e", nil, "NAME=VALUE: a run variable for the rerun (VALUE may be SSM:/path or SECRET:name); repeatable")
	cmd.Flags().BoolVarP(&opts.detach, "detach", "d", false, "start the run and return without following it")
	cmd.Flags().BoolVar(&opts.raw, "raw", false, "print the log's bytes as they are (by default, of the terminal control sequences only colours are kept)")
	return cmd
}

func runRerun(ctx context.Context, c *CLI, opts rerunOptions, id string) error {
	vars, err := parseRunVars(opts.vars)
	if err != nil {
		return withExit(ExitUsage, err)
	}
	client := opts.client(c)
	var run api.Run
	// The server checks the variables against the run's project file.
	if err := client.Do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/rerun", nil, api.RerunRequest{Vars: vars, StartedBy: startedBy(c)}, &run); err != nil {
		var se *apiclient.StatusError
		if errors.As(err, &se) && se.Status == http.StatusBadRequest {
			return withExit(ExitUsage, err)
		}
		return clientError(err)
	}
	fmt.Fprintf(c.Err, "jetway: run %s queued, a rerun of %s (project %s, %s)\n", run.ID, id, run.Project, run.Git.String())
	return followRun(ctx, c, client, run, opts.detach, opts.raw)
}
