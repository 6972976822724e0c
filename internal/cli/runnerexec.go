//go:build linux

package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/runner"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// newRunnerExecCommand is what the server's executor starts for each run.
// It talks to the server over HTTP only, with the run token.
func newRunnerExecCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:    "runner-exec",
		Short:  "Execute one run for the server (started by the server's executor)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRunnerExec(cmd.Context(), c)
		},
	}
}

func runRunnerExec(ctx context.Context, c *CLI) error {
	server, id, token := c.Getenv("JETWAY_SERVER"), c.Getenv("JETWAY_RUN_ID"), c.Getenv("JETWAY_RUN_TOKEN")
	if server == "" || id == "" || token == "" {
		return usageError("runner-exec needs JETWAY_SERVER, JETWAY_RUN_ID and JETWAY_RUN_TOKEN; it is started by `jetway server`")
	}
	sbConfig, err := sandboxConfigFromEnv(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	var run runproto.Run = runproto.NewRunClient(server, id, token, c.Getenv("JETWAY_SSM_ENDPOINT"))
	spec, err := run.Spec(ctx)
	if err != nil {
		return clientError(err)
	}
	src, err := os.MkdirTemp("", "jetway-bundle-"+id+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	sink := run.Events(ctx, runproto.UploaderOptions{Logger: c.Logger()})
	defer func() {
		if err := sink.Close(); err != nil {
			c.Logger().Error("sending the run's events", "err", err)
		}
	}()
	// A bundle that cannot be fetched or unpacked whole fails the run with
	// the reason (it names the file), never runs it on a partial workspace.
	tar, err := run.Bundle(ctx)
	if err == nil {
		err = bundle.Extract(tar, src)
		tar.Close()
	} else {
		err = fmt.Errorf("bundle: %w", clientError(err))
	}
	if err != nil {
		status, code := api.StatusFailed, ExitFailed
		if ctx.Err() != nil {
			status, code = api.StatusCancelled, ExitCancelled
		}
		sink.Emit(api.Event{Type: "error", Message: err.Error()})
		sink.Emit(api.Event{Type: "summary", Summary: &api.Summary{RunID: id, Status: status, ExitCode: code, Error: err.Error()}})
		return err
	}
	project, err := config.ParseWithVars(config.FileName, []byte(spec.ProjectFile), spec.Vars)
	if err != nil {
		sink.Emit(api.Event{Type: "error", Message: err.Error()})
		sink.Emit(api.Event{Type: "summary", Summary: &api.Summary{RunID: id, Status: api.StatusFailed, ExitCode: ExitUsage, Error: err.Error()}})
		return err
	}
	var clientEnv []string
	for k, v := range spec.Pass {
		clientEnv = append(clientEnv, k+"="+v)
	}
	runner.Run(ctx, runner.Options{
		SourceDir: src,
		// The client chose the files by the ignore rules; the bundle is
		// copied whole.
		SourceIsBundle: true,
		Project:        project,
		Env:            spec.Env,
		RunID:          id,
		Resolve:        run.Resolve,
		IDTokens:       run.IDTokens,
		ClientEnv:      clientEnv,
		PhaseEnv:       phaseBaseEnv(c),
		Sink:           sink,
		Logger:         c.Logger(),
		// The client's facts: git must not run as root on the bundle.
		Git:     &spec.Git,
		Sandbox: sbConfig,
		// The server's runners run next to the server's secrets.
		RefuseLocalDocker: c.Getenv("JETWAY_REFUSE_LOCAL_DOCKER") == "1",
		Artifacts:         run,
		Docker:            spec.Docker,
		DockerHost:        spec.DockerHost,
	})
	return nil
}
