package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/executor"
	"github.com/jetway-dev/jetway/internal/server"
)

type serverOptions struct {
	dataDir     string
	listen      string
	concurrency int
}

func newServerCommand(c *CLI) *cobra.Command {
	var opts serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the jetway server: API and the embedded parameter store",
		Long: `Run the jetway server on one address: the /v1 JSON API (bearer token) with
the run queue (runs execute as child runners, --concurrency at once and one
per project at a time), the embedded parameter store speaking the AWS SSM and Secrets Manager APIs
(SigV4), and /healthz.

On first start it creates in the data dir: token (the API token),
master.key (encrypts secure values), and credentials + config (an AWS profile
"jetway" for the AWS CLI and SDKs), all readable by the owner only.
Stop it with Ctrl-C or SIGTERM.`,
		Example: `  jetway server
  jetway server --data /var/lib/jetway --listen 0.0.0.0:7070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), c, opts)
		},
	}
	cmd.Flags().StringVar(&opts.dataDir, "data", "", "data directory (default ~/.local/share/jetway)")
	cmd.Flags().StringVar(&opts.listen, "listen", "127.0.0.1:7070", "address to serve on")
	cmd.Flags().IntVar(&opts.concurrency, "concurrency", 2, "runs that execute at once (one per project at a time)")
	return cmd
}

func runServer(ctx context.Context, c *CLI, opts serverOptions) error {
	if opts.dataDir == "" {
		opts.dataDir = c.DefaultDataDir()
	}
	self, err := os.Executable()
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("finding the jetway binary for runners: %w", err))
	}
	srv, err := server.New(ctx, server.Options{
		DataDir: opts.dataDir, Logger: c.Logger(), Concurrency: opts.concurrency,
		Executor: &executor.Local{Binary: self, LogDir: filepath.Join(opts.dataDir, "runs")},
	})
	if err != nil {
		return withExit(ExitFailed, err)
	}
	l, err := net.Listen("tcp", opts.listen)
	if err != nil {
		srv.Close()
		return withExit(ExitFailed, fmt.Errorf("listening on %s: %w", opts.listen, err))
	}
	url := "http://" + l.Addr().String()
	info := srv.Info()
	fmt.Fprintf(c.Out, "jetway server listening on %s\n", url)
	fmt.Fprintf(c.Out, "  data dir:        %s\n", info.DataDir)
	if info.NewToken != "" {
		fmt.Fprintf(c.Out, "  API token:       %s (shown once; kept in %s, where clients on this machine read it)\n", info.NewToken, info.TokenFile)
	} else {
		fmt.Fprintf(c.Out, "  API token:       in %s (clients on this machine read it from there)\n", info.TokenFile)
	}
	fmt.Fprintf(c.Out, "  AWS credentials: %s, profile jetway; for the AWS CLI:\n", info.CredentialsFile)
	fmt.Fprintf(c.Out, "    AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s aws --profile jetway --endpoint-url %s ssm describe-parameters\n", info.CredentialsFile, info.ConfigFile, url)
	if err := srv.Serve(ctx, l); err != nil {
		return withExit(ExitFailed, err)
	}
	fmt.Fprintln(c.Out, "jetway server stopped")
	return nil
}
