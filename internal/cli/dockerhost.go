package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/dockerhost"
)

func newDockerhostCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dockerhost",
		Short: "Check or proxy a Docker host (unix://, tcp://, ssh://)",
		Long: `Talk to the Docker host that runs use (DOCKER_HOST).

ssh:// hosts are reached with jetway's own SSH client over one connection:
keys come from --identity, else ~/.ssh/id_rsa, id_ed25519, id_ecdsa, and
ssh-agent (SSH_AUTH_SOCK); host keys are always verified against known_hosts
(--known-hosts, else ~/.ssh/known_hosts), hashed entries included.
tcp:// hosts use TLS when DOCKER_TLS_VERIFY is set, with ca.pem, cert.pem and
key.pem from DOCKER_CERT_PATH (default ~/.docker).`,
	}
	cmd.AddCommand(newCheckCommand(c), newProxyCommand(c))
	return cmd
}

// hostFlags are the connection flags shared by the dockerhost commands.
type hostFlags struct {
	host       string
	identities []string
	knownHosts []string
	timeout    time.Duration
}

func (f *hostFlags) bind(fs *pflag.FlagSet) {
	fs.StringVarP(&f.host, "host", "H", "", "Docker host URL (default $DOCKER_HOST, else the local socket)")
	fs.StringArrayVarP(&f.identities, "identity", "i", nil, "SSH private key file (repeatable; default ~/.ssh/id_rsa, id_ed25519, id_ecdsa)")
	fs.StringArrayVar(&f.knownHosts, "known-hosts", nil, "known_hosts file (repeatable; default ~/.ssh/known_hosts)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up connecting after this long")
}

func (f *hostFlags) options(c *CLI) dockerhost.Options {
	host := f.host
	if host == "" {
		host = c.Getenv("DOCKER_HOST")
	}
	return dockerhost.Options{
		Host:        host,
		Home:        c.Home(),
		User:        c.UserName(),
		Identities:  f.identities,
		KnownHosts:  f.knownHosts,
		AgentSocket: c.Getenv("SSH_AUTH_SOCK"),
		TLSVerify:   truthy(c.Getenv("DOCKER_TLS_VERIFY")),
		CertPath:    c.Getenv("DOCKER_CERT_PATH"),
		Timeout:     f.timeout,
		Logger:      c.Logger(),
	}
}

// truthy follows the docker CLI: any non-empty DOCKER_TLS_VERIFY turns TLS
// on, except an explicit false.
func truthy(v string) bool {
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}

type checkOptions struct {
	hostFlags
	platform string
	json     bool
	pings    int
}

func newCheckCommand(c *CLI) *cobra.Command {
	var opts checkOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Connect to a Docker host and report its version, platform, disk use and latency",
		Long: `Connect to a Docker host and report what a run would find there: server and
API version, OS/architecture, storage driver, disk used by images and build
cache, connect time and /_ping round-trip latency.

Exits 0 when the host is usable, 3 when it cannot be reached or used, with a
message that says what to fix (unknown or changed host key, rejected key,
missing socket, TLS files, ...).`,
		Example: `  jetway dockerhost check --host ssh://builder@docker.internal
  DOCKER_HOST=tcp://docker.internal:2376 DOCKER_TLS_VERIFY=1 jetway dockerhost check
  jetway dockerhost check --host ssh://builder@docker.internal --platform linux/arm64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), c, opts)
		},
	}
	opts.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.platform, "platform", "", "warn if the host's platform differs from this one (e.g. linux/amd64)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&opts.pings, "pings", 5, "number of /_ping round trips to time")
	return cmd
}

func runCheck(ctx context.Context, c *CLI, opts checkOptions) error {
	if opts.platform != "" {
		if _, err := dockerhost.ParsePlatform(opts.platform); err != nil {
			return usageError("--platform: %v", err)
		}
	}
	hostOpts := opts.options(c)
	if _, err := dockerhost.ParseSpec(hostOpts.Host, hostOpts.TLSVerify); err != nil {
		return usageError("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	start := time.Now()
	h, err := dockerhost.Open(ctx, hostOpts)
	if err != nil {
		return withExit(ExitUnreachable, err)
	}
	defer h.Close()
	report, err := dockerhost.Check(ctx, h, time.Since(start), opts.pings)
	if err != nil {
		return withExit(ExitUnreachable, err)
	}
	warning, _ := dockerhost.PlatformWarning(dockerhost.Platform{OS: report.OS, Arch: report.Architecture}, opts.platform)
	if opts.json {
		return printJSON(c.Out, struct {
			dockerhost.Report
			Warning string `json:"warning,omitempty"`
		}{report, warning})
	}
	tw := tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Docker host\t%s\n", report.Host)
	fmt.Fprintf(tw, "Server\tDocker %s (API %s)\n", report.ServerVersion, report.APIVersion)
	fmt.Fprintf(tw, "Platform\t%s/%s (kernel %s)\n", report.OS, report.Architecture, report.KernelVersion)
	fmt.Fprintf(tw, "Storage driver\t%s\n", report.StorageDriver)
	fmt.Fprintf(tw, "Resources\t%d CPUs, %s memory\n", report.CPUs, api.HumanBytes(report.MemoryBytes))
	if report.DiskUsageError != "" {
		fmt.Fprintf(tw, "Images\tunknown (%s)\n", report.DiskUsageError)
		fmt.Fprintf(tw, "Build cache\tunknown\n")
	} else {
		fmt.Fprintf(tw, "Images\t%d (%s)\n", report.Images, api.HumanBytes(report.ImagesBytes))
		fmt.Fprintf(tw, "Build cache\t%s\n", api.HumanBytes(report.BuildCache))
	}
	fmt.Fprintf(tw, "Connect\t%s\n", roundDuration(report.Connect))
	fmt.Fprintf(tw, "Latency\t%s (median /_ping of %d)\n", roundDuration(report.Latency), max(opts.pings, 1))
	if err := tw.Flush(); err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintln(c.Err, "warning:", warning)
	}
	return nil
}

type proxyOptions struct {
	hostFlags
	listen string
	mode   string
}

func newProxyCommand(c *CLI) *cobra.Command {
	var opts proxyOptions
	cmd := &cobra.Command{
		Use:   "proxy --listen unix:///path.sock",
		Short: "Serve a local unix socket that forwards to the Docker host over one connection",
		Long: `Serve a local unix socket and forward every connection to the Docker host.
For ssh:// hosts all connections ride one SSH connection, so the docker CLI
pointed at the socket needs no ssh process or handshake per command.
Runs until interrupted (Ctrl-C or SIGTERM), then removes the socket.`,
		Example: `  jetway dockerhost proxy --host ssh://builder@docker.internal --listen unix:///tmp/docker.sock &
  DOCKER_HOST=unix:///tmp/docker.sock docker build -t app .`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProxy(cmd.Context(), c, opts)
		},
	}
	opts.bind(cmd.Flags())
	cmd.Flags().StringVarP(&opts.listen, "listen", "l", "", "unix socket to serve, as unix:///path or /path (required)")
	cmd.Flags().StringVar(&opts.mode, "mode", "0600", "file mode of the socket")
	return cmd
}

func runProxy(ctx context.Context, c *CLI, opts proxyOptions) error {
	path := strings.TrimPrefix(opts.listen, "unix://")
	if path == "" || !strings.HasPrefix(path, "/") {
		return usageError("--listen needs an absolute socket path, as in --listen unix:///tmp/docker.sock")
	}
	mode, err := strconv.ParseUint(opts.mode, 8, 32)
	if err != nil {
		return usageError("--mode %q is not an octal file mode", opts.mode)
	}
	hostOpts := opts.options(c)
	if _, err := dockerhost.ParseSpec(hostOpts.Host, hostOpts.TLSVerify); err != nil {
		return usageError("%v", err)
	}
	openCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	h, err := dockerhost.Open(openCtx, hostOpts)
	if err == nil {
		_, err = h.Ping(openCtx)
	}
	cancel()
	if err != nil {
		if h != nil {
			h.Close()
		}
		return withExit(ExitUnreachable, err)
	}
	defer h.Close()
	l, err := dockerhost.ListenUnix(path, os.FileMode(mode))
	if err != nil {
		return withExit(ExitFailed, err)
	}
	fmt.Fprintf(c.Err, "jetway: forwarding unix://%s to %s; use it with\n  export DOCKER_HOST=unix://%s\n", path, h.Spec(), path)
	p := &dockerhost.Proxy{Dialer: h, Logger: c.Logger()}
	if err := p.Serve(ctx, l); err != nil {
		return withExit(ExitFailed, err)
	}
	return nil
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
