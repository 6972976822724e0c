// Command jetway-testbed starts and stops the hosts jetway's tests and demo
// run against (see internal/testbed): `up` prints the bed's addresses and
// the environment to use it, `down` removes it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/testbed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "jetway-testbed:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "jetway-testbed",
		Short:         "Start and stop jetway's test hosts (remote Docker host over ssh, local dockerd, registry)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUpCommand(), newDownCommand(), newListCommand())
	return root
}

func newUpCommand() *cobra.Command {
	var asJSON, asEnv, verbose, bridged bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a test bed and print how to use it",
		Long: `Start a test bed: a network namespace with its own dockerd and sshd (the
"remote Docker host"), a local dockerd and a registry with htpasswd auth.
It keeps running after this command exits; remove it with
'jetway-testbed down DIR'. Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			bed, err := testbed.Up(cmd.Context(), testbed.Config{Logger: log})
			if err != nil {
				return err
			}
			dockerHost := bed.DockerHostSSH()
			if bridged {
				socket, err := bed.BridgedDocker(cmd.Context())
				if err != nil {
					_ = bed.Down()
					return err
				}
				dockerHost = bed.DockerHostSSHTo(socket)
			}
			out := cmd.OutOrStdout()
			if asEnv {
				for _, kv := range [][2]string{
					{"TB_DIR", bed.Dir}, {"TB_DOCKER_HOST", dockerHost}, {"TB_CLIENT_KEY", bed.ClientKey},
					{"TB_KNOWN_HOSTS", bed.KnownHosts}, {"TB_REMOTE_SOCKET", bed.RemoteSocket}, {"TB_LOCAL_SOCKET", bed.LocalSocket},
					{"TB_REMOTE_MARKER", bed.RemoteMarker}, {"TB_REGISTRY", bed.Registry}, {"TB_REGISTRY_USER", bed.RegistryUser},
					{"TB_REGISTRY_PASS", bed.RegistryPass}, {"TB_BASE_IMAGE", testbed.BaseImage},
				} {
					fmt.Fprintf(out, "%s='%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", `'\''`))
				}
				return nil
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(bed)
			}
			fmt.Fprintf(out, "# test bed %s in %s\n", bed.ID, bed.Dir)
			fmt.Fprintf(out, "export DOCKER_HOST=%s\n", dockerHost)
			fmt.Fprintf(out, "# ssh key: %s\n# known_hosts: %s\n", bed.ClientKey, bed.KnownHosts)
			fmt.Fprintf(out, "# remote over TLS: DOCKER_HOST=%s DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=%s\n", bed.RemoteTLS, bed.TLSCertDir)
			fmt.Fprintf(out, "# local dockerd: unix://%s\n", bed.LocalSocket)
			fmt.Fprintf(out, "# registry: %s (user %s, password %s)\n", bed.Registry, bed.RegistryUser, bed.RegistryPass)
			fmt.Fprintf(out, "# remove it with: jetway-testbed down %s\n", bed.Dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the bed's description as JSON")
	cmd.Flags().BoolVar(&asEnv, "env", false, "print shell variable assignments (TB_DIR=..., TB_DOCKER_HOST=...) for scripts")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log each step")
	cmd.Flags().BoolVar(&bridged, "bridged", false, "make DOCKER_HOST a remote dockerd with a bridge network, which BuildKit's RUN steps need (the bed's others have none)")
	return cmd
}

func newDownCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "down [DIR...]",
		Short: "Remove test beds: those named by directory, or --all",
		RunE: func(cmd *cobra.Command, dirs []string) error {
			var beds []*testbed.Bed
			switch {
			case all && len(dirs) > 0:
				return errors.New("give directories or --all, not both")
			case all:
				var err error
				if beds, err = testbed.List(); err != nil {
					return err
				}
			case len(dirs) == 0:
				return errors.New("name the bed's directory (printed by `up`), or use --all")
			default:
				for _, d := range dirs {
					b, err := testbed.Load(d)
					if err != nil {
						return fmt.Errorf("%s is not a test bed: %w", d, err)
					}
					beds = append(beds, b)
				}
			}
			var errs []error
			for _, b := range beds {
				if err := b.Down(); err != nil {
					errs = append(errs, err)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "removed test bed %s\n", b.ID)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every test bed on this machine")
	return cmd
}

func newListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the test beds on this machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			beds, err := testbed.List()
			if err != nil {
				return err
			}
			for _, b := range beds {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\towner=%d\n", b.ID, b.Dir, b.DockerHostSSH(), b.Owner)
			}
			return nil
		},
	}
}
