package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
)

func newRunsCommand(c *CLI) *cobra.Command {
	var opts struct {
		clientFlags
		project string
		json    bool
		limit   int
	}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first (and `runs show ID`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"limit": {fmt.Sprint(opts.limit)}}
			if opts.project != "" {
				q.Set("project", opts.project)
			}
			var runs []api.Run
			if err := opts.client(c).Do(cmd.Context(), http.MethodGet, "/v1/runs", q, nil, &runs); err != nil {
				return clientError(err)
			}
			if opts.json {
				return printJSON(c.Out, runs)
			}
			tw := tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPROJECT\tSTATUS\tAGENT\tGIT\tSTARTED\tDURATION\tCACHE\tNOTE")
			for _, r := range runs {
				started := "-"
				if r.StartedAt != nil {
					started = r.StartedAt.Local().Format("01-02 15:04:05")
				}
				cache := "-"
				if r.Summary != nil && r.Summary.Build != nil {
					cached, cacheable := r.Summary.Build.CacheHits()
					cache = fmt.Sprintf("%d/%d", cached, cacheable)
				}
				agent, note := "-", ""
				if r.Agent != "" {
					agent = r.Agent
				}
				if r.Status == api.StatusQueued {
					note = api.TermSafe(r.Reason) // why it waits
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Project, r.Status, agent, r.Git.String(), started, r.Duration().Round(100*time.Millisecond), cache, note)
			}
			return tw.Flush()
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.project, "project", "", "only this project's runs")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	cmd.Flags().IntVar(&opts.limit, "limit", 50, "at most this many runs")
	cmd.AddCommand(newRunsShowCommand(c), newRunsArtifactsCommand(c))
	return cmd
}

func newRunsShowCommand(c *CLI) *cobra.Command {
	var opts struct {
		clientFlags
		json bool
	}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run: phases, durations, cached steps, image digest, who and which commit",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r api.Run
			if err := opts.client(c).Do(cmd.Context(), http.MethodGet, "/v1/runs/"+url.PathEscape(args[0]), nil, nil, &r); err != nil {
				return clientError(err)
			}
			if opts.json {
				return printJSON(c.Out, r)
			}
			printRun(c, r)
			return nil
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func printRun(c *CLI, r api.Run) {
	tw := tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s\n", r.ID)
	fmt.Fprintf(tw, "project\t%s (env %s)\n", r.Project, first(r.Env, "-"))
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	if r.Agent != "" {
		fmt.Fprintf(tw, "agent\t%s\n", r.Agent)
	}
	fmt.Fprintf(tw, "docker policy\t%s\n", runDockerPolicy(r))
	if r.Summary != nil && (r.Summary.DockerHostChoice != "" || r.Summary.DockerHostName != "") {
		// The pool's host the run built on, and why not on those before it.
		fmt.Fprintf(tw, "docker host\t%s\n", api.TermSafe(first(r.Summary.DockerHostChoice, r.Summary.DockerHostName)))
	}
	if r.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", r.Reason)
	}
	fmt.Fprintf(tw, "started by\t%s\n", first(r.StartedBy, "-"))
	if r.Token != "" {
		fmt.Fprintf(tw, "token\t%s\n", r.Token)
	}
	if r.RerunOf != "" {
		fmt.Fprintf(tw, "rerun of\t%s\n", r.RerunOf)
	}
	// As the server shows them: references as written, secret-looking
	// plain values as [MASKED].
	for i, name := range slices.Sorted(maps.Keys(r.Vars)) {
		label := ""
		if i == 0 {
			label = "variables (-e)"
		}
		fmt.Fprintf(tw, "%s\t%s=%s\n", label, name, api.TermSafe(r.Vars[name]))
	}
	fmt.Fprintf(tw, "commit\t%s\n", r.Git.String())
	fmt.Fprintf(tw, "queued\t%s\n", r.CreatedAt.Local().Format(time.DateTime))
	fmt.Fprintf(tw, "duration\t%s\n", r.Duration().Round(10*time.Millisecond))
	tw.Flush()
	if r.Summary != nil {
		fmt.Fprint(c.Out, r.Summary.Text())
		if r.Summary.Build != nil {
			fmt.Fprintln(c.Out, "  steps:")
			for _, st := range r.Summary.Build.Steps {
				state := "built "
				if st.Cached {
					state = "cached"
				}
				fmt.Fprintf(c.Out, "    %2d %s %8s  %s\n", st.Number, state, st.Duration.Round(10*time.Millisecond), st.Instruction)
			}
		}
	}
	if len(r.Artifacts) > 0 {
		var total int64
		for _, a := range r.Artifacts {
			total += a.Size
		}
		fmt.Fprintf(c.Out, "  artifacts: %d files, %s (jetway runs artifacts %s):\n", len(r.Artifacts), api.HumanBytes(total), r.ID)
		for _, a := range r.Artifacts {
			fmt.Fprintf(c.Out, "    %10s  %s  %s\n", api.HumanBytes(a.Size), a.SHA256, listName(a.Name))
		}
	}
}

// runDockerPolicy is what a run was allowed on its Docker host: its
// project's settings when its runner started (jetway projects).
func runDockerPolicy(r api.Run) string {
	switch {
	case r.Docker != nil:
		return r.Docker.String()
	case api.Finished(r.Status):
		return "none recorded (its runner never started, or it ran before jetway recorded it)"
	default:
		return "not given yet: its runner gets its project's settings when it starts (jetway projects show " + r.Project + ")"
	}
}

func newLogsCommand(c *CLI) *cobra.Command {
	var opts struct {
		clientFlags
		follow bool
		raw    bool
	}
	cmd := &cobra.Command{
		Use:   "logs [-f] ID",
		Short: "Print a run's log; -f follows it until the run ends",
		Long: `Print a run's log; -f follows it until the run ends.

The log is what the run's phases printed, so it is filtered for the
terminal: colours stay, every other control sequence (window title,
clipboard, cursor movement, …) and control character but tab and line
feed is removed. --raw prints the bytes as the server has them (while
following, line breaks arrive as line feeds).`,
		Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			client := opts.client(c)
			out := logOutput(c.Out, opts.raw)
			defer out.Flush()
			if !opts.follow {
				resp, err := client.Stream(cmd.Context(), http.MethodGet, "/v1/runs/"+url.PathEscape(args[0])+"/logs", nil, nil, nil)
				if err != nil {
					return clientError(err)
				}
				defer resp.Body.Close()
				_, err = io.Copy(out, resp.Body)
				return err
			}
			end, err := client.Follow(cmd.Context(), args[0], out)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return withExit(ExitCancelled, fmt.Errorf("stopped following; the run goes on (jetway logs -f %s)", args[0]))
				}
				return clientError(err)
			}
			if code := api.ExitCode(end.Status); code != 0 {
				return withExit(code, fmt.Errorf("run %s %s", args[0], end.Status))
			}
			return nil
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVarP(&opts.follow, "follow", "f", false, "follow the log until the run ends")
	cmd.Flags().BoolVar(&opts.raw, "raw", false, "print the log's bytes as they are, terminal control sequences included")
	return cmd
}

// logWriter is where a run's log is printed: Flush at its end.
type logWriter interface {
	io.Writer
	Flush() error
}

// logOutput returns w, filtered for a terminal unless raw (`jetway logs`
// and `jetway deploy` print what a phase wrote; see api.TermWriter).
func logOutput(w io.Writer, raw bool) logWriter {
	if raw {
		return rawOutput{w}
	}
	return api.NewTermWriter(w)
}

type rawOutput struct{ io.Writer }

func (rawOutput) Flush() error { return nil }
