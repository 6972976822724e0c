// Package cli holds jetway's commands: flag parsing and output only; the
// work is done by the packages they call.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/exitcode"
)

// Exit statuses shared by every command: package exitcode's, which the
// runner reports too.
const (
	ExitOK          = exitcode.OK
	ExitFailed      = exitcode.Failed
	ExitUsage       = exitcode.Usage
	ExitUnreachable = exitcode.Unreachable
	ExitTimedOut    = exitcode.TimedOut
	ExitCancelled   = exitcode.Cancelled
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// CLI is what every command gets: streams and the process environment.
type CLI struct {
	Streams
	Getenv  func(string) string
	Verbose bool
}

// Home is the user's home directory: $HOME, else the passwd entry.
func (c *CLI) Home() string {
	if h := c.Getenv("HOME"); h != "" {
		return h
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return "/"
}

// UserName is the login name for SSH when a URL names none.
func (c *CLI) UserName() string {
	if u := c.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// Logger logs to stderr; debug records only with --verbose.
func (c *CLI) Logger() *slog.Logger {
	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.Err, &slog.HandlerOptions{Level: level}))
}

// exitError carries an exit status chosen by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError marks bad flags or arguments (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// Main runs jetway with args and returns the process exit status.
func Main(ctx context.Context, args []string, streams Streams, getenv func(string) string) int {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &CLI{Streams: streams, Getenv: getenv}
	root := NewRootCommand(c)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(streams.Err, "jetway:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		return ExitCancelled
	}
	// Flags and arguments are tagged as usage errors where they are
	// checked (tagUsageErrors); anything else failed, as the README says.
	return ExitFailed
}

// tagUsageErrors makes what cobra checks itself usage errors (exit 2):
// bad flags, wrong argument counts, an unknown command.
func tagUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withExit(ExitUsage, err) })
	// The root runs (printing its help) so that cobra hands it the words
	// no subcommand matched, to refuse here.
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if check := cmd.Args; check != nil && cmd != root {
			cmd.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					var ee *exitError
					if errors.As(err, &ee) {
						return err
					}
					return withExit(ExitUsage, err)
				}
				return nil
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// NewRootCommand builds the command tree.
func NewRootCommand(c *CLI) *cobra.Command {
	root := &cobra.Command{
		Use:   "jetway",
		Short: "Build and deploy on throw-away runners that reuse a remote Docker host's layer cache",
		Long: `jetway runs builds and deploys on fresh, throw-away runners, and lets each run
use a persistent remote Docker host (DOCKER_HOST=ssh://..., tcp://...) so that
image layers built by earlier runs are reused.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOldEnvFlag(cmd); err != nil {
			return err
		}
		return checkContext(c, cmd)
	}
	root.PersistentFlags().BoolVarP(&c.Verbose, "verbose", "v", false, "log what jetway does, to stderr")
	root.AddCommand(newDockerhostCommand(c), newServerCommand(c), newParamsCommand(c), newRunCommand(c), newInitCommand(c),
		newDeployCommand(c), newRunsCommand(c), newLogsCommand(c), newStopCommand(c), newLoginCommand(c), newContextCommand(c), newRunnerExecCommand(c))
	root.AddCommand(newAgentCommand(c), newAgentsCommand(c), newProjectsCommand(c), newHostsCommand(c))
	root.AddCommand(newRerunCommand(c), newTokensCommand(c), newAuditCommand(c))
	addVersion(c, root)
	root.AddCommand(newSandboxInitCommand())
	tagUsageErrors(root)
	return root
}

// printJSON writes v as indented JSON, the --json output of every command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
