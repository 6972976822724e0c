package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/config"
)

type stopOptions struct {
	clientFlags
	file string
	yes  bool
}

func newStopCommand(c *CLI) *cobra.Command {
	var opts stopOptions
	cmd := &cobra.Command{
		Use:   "stop [ID]",
		Short: "Cancel a queued or running run (without ID: this project's active run)",
		Long: `Cancel the run ID, queued or running.

Without an ID, cancel the active run of the project in the current
directory (project: of ./jetway.yaml, or of --file): the one running, else
the one queued. It asks first when its input is a terminal; -y skips the
question, and without a terminal -y is required.`,
		Example: `  jetway stop 3f2a9c1e
  jetway stop            # this project's active run, after a question
  jetway stop -y`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client := opts.client(c)
			if len(args) == 1 {
				return cancelRun(cmd.Context(), c, client, args[0])
			}
			return stopProjectRun(cmd.Context(), c, client, opts)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVarP(&opts.file, "file", "f", "", "project file, without ID (default ./jetway.yaml)")
	cmd.Flags().BoolVarP(&opts.yes, "yes", "y", false, "do not ask; needed without a terminal")
	return cmd
}

func cancelRun(ctx context.Context, c *CLI, client *apiclient.Client, id string) error {
	var out map[string]string
	if err := client.Do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/cancel", nil, struct{}{}, &out); err != nil {
		return clientError(err)
	}
	fmt.Fprintf(c.Out, "run %s: %s\n", id, out["status"])
	return nil
}

// stopProjectRun cancels the active run of the project of the current
// directory, after asking on a terminal.
func stopProjectRun(ctx context.Context, c *CLI, client *apiclient.Client, opts stopOptions) error {
	file := opts.file
	if file == "" {
		file = config.FileName
	}
	project, err := config.Load(file)
	if err != nil {
		abs, _ := filepath.Abs(file)
		return withExit(ExitUsage, fmt.Errorf("%w\nwithout an ID, jetway stop cancels the active run of the project in this directory (%s); pass a run ID (jetway runs) or run it where jetway.yaml is", err, abs))
	}
	var runs []api.Run
	q := url.Values{"project": {project.Project}, "limit": {"100"}}
	if err := client.Do(ctx, http.MethodGet, "/v1/runs", q, nil, &runs); err != nil {
		return clientError(err)
	}
	run, others, err := activeRun(project.Project, runs)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("run %s of %s (%s, %s, started by %s)", run.ID, run.Project, run.Status, run.Git.String(), first(api.TermSafe(run.StartedBy), "-"))
	if !opts.yes {
		in, ok := c.In.(*os.File)
		if !ok || !isTTY(in) {
			return usageError("jetway stop would cancel %s, but there is no terminal to ask; pass -y to cancel it without asking", what)
		}
		fmt.Fprintf(c.Err, "Cancel %s? [y/N] ", what)
		answer, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return withExit(ExitFailed, err)
		}
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintf(c.Err, "not cancelled; run %s goes on\n", run.ID)
			return withExit(ExitFailed, errors.New("not confirmed"))
		}
	}
	if err := cancelRun(ctx, c, client, run.ID); err != nil {
		return err
	}
	if len(others) > 0 {
		fmt.Fprintf(c.Err, "%d more run(s) of %s queued: %s (jetway stop ID for each)\n", len(others), run.Project, strings.Join(others, ", "))
	}
	return nil
}

// activeRun picks the run to cancel among a project's runs: the one
// running (a project runs one at a time), else the one queued. Several
// queued and none running is a choice for the user.
func activeRun(project string, runs []api.Run) (api.Run, []string, error) {
	var running, queued []api.Run
	for _, r := range runs {
		if r.Project != project {
			continue
		}
		switch r.Status {
		case api.StatusProvisioning, api.StatusRunning:
			running = append(running, r)
		case api.StatusQueued:
			queued = append(queued, r)
		}
	}
	ids := func(rs []api.Run) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	switch {
	case len(running) == 1:
		return running[0], ids(queued), nil
	case len(running) == 0 && len(queued) == 1:
		return queued[0], nil, nil
	case len(running) == 0 && len(queued) == 0:
		return api.Run{}, nil, withExit(ExitFailed, fmt.Errorf("project %s has no queued or running run (jetway runs --project %s)", project, project))
	}
	return api.Run{}, nil, usageError("project %s has several active runs: %s; pass the one to cancel: jetway stop ID", project, strings.Join(append(ids(running), ids(queued)...), ", "))
}

// isTTY tells whether f is a terminal (the system's terminal query
// succeeds): /dev/null is a character device too, and must not be asked a
// question.
func isTTY(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}
