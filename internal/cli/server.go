//go:build linux

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/agent"
	"github.com/jetway-dev/jetway/internal/executor"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/sandbox"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/serverdb"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

type serverOptions struct {
	dataDir          string
	listen           string
	concurrency      int
	labels           string
	drainTimeout     time.Duration
	leaseTimeout     time.Duration
	sandbox          sandboxFlags
	allowLocalDocker bool
	database         string
	masterKeyFile    string
	retainRuns       int
	retainDays       int
	hostCheck        time.Duration
	publicURL        string
	ops              opsFlags
}

func newServerCommand(c *CLI) *cobra.Command {
	var opts serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the jetway server: API and the embedded parameter store",
		Long: `Run the jetway server on one address: the /v1 JSON API (bearer token) with
the run queue, the embedded parameter store speaking the AWS SSM and Secrets
Manager APIs (SigV4), and /healthz.

Runs execute on agents, one run per project at a time across all of them.
The server has one of its own, "local": it executes --concurrency runs at
once on this machine as child runners. With --concurrency 0 the server
executes nothing itself and runs wait for agents on other machines (jetway
agent --help). On SIGTERM the local runs have --drain-timeout to finish
before they are stopped; the server serves until they have ended.

On first start it creates in the data dir: token (the API token; it is never
printed), master.key (encrypts secure values), and credentials + config (an
AWS profile "jetway" for the AWS CLI and SDKs), all readable by the owner
only. Stop it with Ctrl-C or SIGTERM.

Runs are hostile code. As root, each runner makes a sandbox in --work-dir: a
fresh user from --run-uids, its own PID, mount and IPC namespaces (private
/tmp, /var/tmp, /dev/shm; the rest of the machine read-only; every process
dies with the run) and the limits of jetway.yaml. What a crashed server's
runners left behind is removed at start. A run whose DOCKER_HOST is this
machine's own daemon (empty or unix://) is refused, since through it a phase
controls the machine: use a remote Docker host, or --allow-local-docker.
The Docker hosts it knows (jetway hosts --help) it checks every
--host-check-interval, with the credentials it reads from its own
parameter store; runs of their pools pass over the hosts found down.

Runs, logs, agents, bundles and parameters live in the data dir's SQLite
databases. To run several servers (replicas behind one address, or for a
server to survive a machine), give them one PostgreSQL database with
--database (or JETWAY_DATABASE): they share the queue (a run executes once,
one run per project across all), logs (followed live on any server), bundles
and parameters. Each needs its own data dir, holding copies of the first
server's token and master.key (or --master-key-file): the database alone
reveals no secret value. Move an existing data dir there with
jetway server migrate.

The server is an OpenID Connect issuer for runs: a project's id_tokens give
its runs JWTs that a cloud (AWS IAM: AssumeRoleWithWebIdentity) trusts. The
tokens' issuer is --public-url, where the cloud fetches
/.well-known/openid-configuration and the signing keys, without a
credential: AWS needs an https URL it can reach. Every server of one
database must be given the same. Rotate the key with
jetway server rotate-oidc-key.`,
		Example: `  jetway server
  jetway server --data /var/lib/jetway --listen 0.0.0.0:7070 --public-url https://jetway.example.com
  JETWAY_DATABASE=postgres://jetway:PASSWORD@db:5432/jetway jetway server --listen 0.0.0.0:7070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), c, opts)
		},
	}
	cmd.Flags().StringVar(&opts.dataDir, "data", "", "data directory (default ~/.local/share/jetway)")
	cmd.Flags().StringVar(&opts.listen, "listen", "127.0.0.1:7070", "address to serve on")
	cmd.Flags().DurationVar(&opts.leaseTimeout, "lease-timeout", runproto.DefaultLeaseTimeout, "an agent silent for this long loses its runs (they fail; one leased but not started is queued again)")
	cmd.Flags().IntVar(&opts.concurrency, "concurrency", 2, "runs that execute at once on this machine (0: none, agents execute them)")
	cmd.Flags().StringVar(&opts.labels, "labels", "", "labels of the server's own agent, k=v,… for runs_on (arch and os are set unless given)")
	cmd.Flags().DurationVar(&opts.drainTimeout, "drain-timeout", 0, "how long this machine's runs may go on after SIGTERM before they are stopped (0: stopped at once)")
	cmd.Flags().BoolVar(&opts.allowLocalDocker, "allow-local-docker", false, "let runs use this machine's own Docker daemon (a phase can then control this machine)")
	// Not the flag's default: --help would print the URL, password and all.
	cmd.Flags().StringVar(&opts.database, "database", "", "PostgreSQL URL (postgres://user:password@host:5432/db) of a database several servers share (default $JETWAY_DATABASE, else SQLite in the data dir)")
	cmd.Flags().StringVar(&opts.masterKeyFile, "master-key-file", "", "the key that seals secret values (default DATA/master.key, created on first start); every server of one database needs the same")
	cmd.Flags().IntVar(&opts.retainRuns, "retain-runs", 0, "keep the newest N runs; older finished ones go with their logs, and the bundles and blobs only they needed (0: keep all)")
	cmd.Flags().IntVar(&opts.retainDays, "retain-days", 0, "prune finished runs older than this many days, with their logs, bundles and blobs (0: keep all)")
	cmd.Flags().DurationVar(&opts.hostCheck, "host-check-interval", 15*time.Second, "how often the server checks each Docker host it knows (jetway hosts); a host that fails is passed over (0: never)")
	cmd.Flags().StringVar(&opts.publicURL, "public-url", "", "the URL clients and clouds reach this server at: the issuer of runs' OIDC tokens (id_tokens); AWS needs https, and replicas the same URL (default http://HOST:PORT of --listen)")
	opts.sandbox.bind(cmd.Flags())
	opts.ops.bind(cmd.Flags())
	cmd.AddCommand(newServerMigrateCommand(c), newServerBackupCommand(c), newServerRestoreCommand(c), newServerRotateOIDCKeyCommand(c))
	return cmd
}

func runServer(ctx context.Context, c *CLI, opts serverOptions) error {
	if opts.dataDir == "" {
		opts.dataDir = c.DefaultDataDir()
	}
	if opts.database == "" {
		opts.database = c.Getenv("JETWAY_DATABASE")
	}
	self, err := os.Executable()
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("finding the jetway binary for runners: %w", err))
	}
	sbConfig, err := opts.sandbox.config(c)
	if err != nil {
		return err
	}
	labels, err := parseLabels(opts.labels)
	if err != nil {
		return err
	}
	if opts.concurrency < 0 {
		return usageError("--concurrency %d: give 0 (agents execute the runs) or more", opts.concurrency)
	}
	if opts.retainRuns < 0 || opts.retainDays < 0 {
		return usageError("--retain-runs and --retain-days take 0 (keep all) or more")
	}
	if opts.hostCheck < 0 {
		return usageError("--host-check-interval %s: give 0 (no checks) or more", opts.hostCheck)
	}
	hostCheck := opts.hostCheck
	if hostCheck == 0 {
		hostCheck = -1 // the server's zero is its default
	}
	if opts.leaseTimeout < 2*runproto.HeartbeatEvery {
		return usageError("--lease-timeout %s: give at least %s (agents report every %s)", opts.leaseTimeout, 2*runproto.HeartbeatEvery, runproto.HeartbeatEvery)
	}
	log, err := opts.ops.logger(c, slog.LevelWarn)
	if err != nil {
		return err
	}
	ms, err := opts.ops.listenMetrics()
	if err != nil {
		return err
	}
	defer ms.stop()
	publicURL := opts.publicURL
	if publicURL == "" {
		publicURL = listenURL(opts.listen, os.Hostname)
	}
	if publicURL != "" && !strings.HasPrefix(publicURL, "https://") {
		log.Warn("runs' OIDC tokens (id_tokens) name an http issuer: AWS IAM trusts only an https issuer it can reach; give --public-url https://… (the same to every server of a database)", "issuer", publicURL)
	}
	sm := ms.serverMetrics()
	var storeErrors func(error)
	if sm != nil {
		storeErrors = func(error) { sm.StoreError() }
	}
	stores, err := serverdb.Open(ctx, serverdb.Options{DataDir: opts.dataDir, Database: opts.database, MasterKeyFile: opts.masterKeyFile, OnError: storeErrors})
	if err != nil {
		return withExit(ExitFailed, err)
	}
	// The server owns the stores from here on, and closes them.
	srv, err := server.New(ctx, server.Options{DataDir: opts.dataDir, Store: stores.Runs, Params: stores.Params,
		Logger: log, LeaseTimeout: opts.leaseTimeout, Retention: server.Retention{Runs: opts.retainRuns, Days: opts.retainDays},
		AllowLocalDocker: opts.allowLocalDocker, HostCheckInterval: hostCheck, PublicURL: publicURL, Metrics: sm})
	if err != nil {
		return withExit(ExitFailed, err)
	}
	// Runners of a server that died left their sandboxes; nothing of them
	// may live on into this server's runs. (Once the server holds its data
	// dir, so a second one started by mistake sweeps nothing; before it
	// answers, so that whoever sees it up sees them gone.)
	if err := sandbox.Sweep(ctx, sbConfig); err != nil {
		log.Warn("removing sandboxes left by an earlier server", "err", err)
	}
	l, err := net.Listen("tcp", opts.listen)
	if err != nil {
		srv.Close()
		return withExit(ExitFailed, fmt.Errorf("listening on %s: %w", opts.listen, err))
	}
	url := "http://" + l.Addr().String()
	info := srv.Info()
	// Clients on this machine find the server through the record, whatever
	// --listen and --data are; without one, only at the defaults.
	found := foundBy{defaults: "http://"+reachable(l.Addr()) == DefaultServer && info.TokenFile == filepath.Join(c.DefaultDataDir(), "token")}
	if dir := c.serverRuntimeDir(); dir != "" {
		path, remove, err := writeServerRecord(dir, serverRecord{URL: "http://" + reachable(l.Addr()), TokenFile: info.TokenFile, PID: os.Getpid()})
		if err != nil {
			log.Warn("clients on this machine will not find this server without settings", "err", err)
		} else {
			found.record = path
			defer remove()
		}
	}
	ms.serve(log)
	if opts.ops.logFormat == "json" {
		// Every line a JSON object, stdout's too.
		printServerJSON(c, url, info, ms, opts.concurrency, srv.LocalAgentName(), found)
	} else {
		printServer(c, url, info, ms, opts, srv.LocalAgentName(), found)
	}

	// The server serves until its own agent has drained, so that the
	// runners can still report.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, l) }()
	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	stopNow, release := secondSignal(ctx)
	defer release()
	drained := make(chan error, 1)
	if opts.concurrency > 0 {
		go func() {
			drained <- agent.Run(agentCtx, agent.Options{
				Coordinator: srv.Coordinator(),
				Info: runproto.AgentInfo{Name: srv.LocalAgentName(), Labels: labels, Version: readBuildVersion(debug.ReadBuildInfo()).Version,
					Concurrency: opts.concurrency},
				// Runners get SIGTERM when the server dies (the default
				// parent-death signal): they report their runs cancelled.
				Launcher: agent.LocalLauncher(&executor.Local{Binary: self, LogDir: filepath.Join(opts.dataDir, "runs"),
					WorkDir: opts.sandbox.workDir, RunUIDs: opts.sandbox.uids, Limits: opts.sandbox.limits, AllowLocalDocker: opts.allowLocalDocker}),
				ServerURL:    func() string { return "http://" + reachable(l.Addr()) },
				Logger:       log,
				DrainTimeout: opts.drainTimeout,
				StopNow:      stopNow,
				// Swept above.
				Sandbox: nil,
				Metrics: ms.agentMetrics(),
			})
		}()
	} else {
		drained <- nil
	}
	var serveErr, agentErr error
	select {
	case <-ctx.Done():
		// SIGTERM: /readyz says so at once, the runs drain, then the
		// listener closes.
		srv.Drain()
		agentErr = <-drained
		stopServing()
		serveErr = <-served
	case serveErr = <-served:
		stopAgent()
		agentErr = <-drained
	}
	if err := errors.Join(serveErr, agentErr); err != nil {
		return withExit(ExitFailed, err)
	}
	if opts.ops.logFormat == "json" {
		log.Warn("jetway server stopped")
	} else {
		fmt.Fprintln(c.Out, "jetway server stopped")
	}
	return nil
}

// foundBy says how clients on this machine find the server without
// settings: through its record (server.json), or at the defaults.
type foundBy struct {
	record   string
	defaults bool
}

// clientsHint is the start message's line on what clients need.
func (f foundBy) clientsHint(url, tokenFile string) string {
	switch {
	case f.record != "":
		return "clients on this machine find this server through " + f.record + " (no settings needed; it holds no token)"
	case f.defaults:
		return "clients on this machine find this server with no settings"
	}
	return fmt.Sprintf("clients need settings: jetway login --server %s --token \"$(cat %s)\"", url, tokenFile)
}

// printServer tells the operator where the server is and what it made.
func printServer(c *CLI, url string, info server.Info, ms *metricsServer, opts serverOptions, localAgent string, found foundBy) {
	fmt.Fprintf(c.Out, "jetway server listening on %s\n", url)
	fmt.Fprintf(c.Out, "  data dir:        %s\n", info.DataDir)
	if opts.database != "" {
		fmt.Fprintf(c.Out, "  database:        %s (PostgreSQL, shared with the other servers given it; this one's agent is %s)\n", sqldb.Redact(opts.database), localAgent)
	}
	// The token itself never goes to stdout, which operators often send to
	// a world-readable file.
	if info.NewToken != "" {
		fmt.Fprintf(c.Out, "  API token:       new, in %s (0600); other machines: jetway login --server URL --token \"$(cat %s)\"\n", info.TokenFile, info.TokenFile)
	} else {
		fmt.Fprintf(c.Out, "  API token:       in %s (0600)\n", info.TokenFile)
	}
	fmt.Fprintf(c.Out, "  clients:         %s\n", found.clientsHint(url, info.TokenFile))
	fmt.Fprintf(c.Out, "  AWS credentials: %s, profile jetway; for the AWS CLI:\n", info.CredentialsFile)
	fmt.Fprintf(c.Out, "    AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s aws --profile jetway --endpoint-url %s ssm describe-parameters\n", info.CredentialsFile, info.ConfigFile, url)
	if opts.concurrency > 0 {
		fmt.Fprintf(c.Out, "  runs:            %d at once on this machine (agent %s), and on agents\n", opts.concurrency, localAgent)
	} else {
		fmt.Fprintln(c.Out, "  runs:            on agents only (--concurrency 0); jetway agent --help says how to start one")
	}
	if ms != nil {
		fmt.Fprintf(c.Out, "  metrics:         %s (Prometheus, no token)\n", ms.URL())
	}
}

// printServerJSON tells the same as printServer, as one JSON object.
func printServerJSON(c *CLI, url string, info server.Info, ms *metricsServer, concurrency int, localAgent string, found foundBy) {
	attrs := []any{"url", url, "data_dir", info.DataDir, "token_file", info.TokenFile, "new_token", info.NewToken != "",
		"credentials_file", info.CredentialsFile, "concurrency", concurrency, "agent", localAgent}
	if found.record != "" {
		attrs = append(attrs, "server_record", found.record)
	}
	if ms != nil {
		attrs = append(attrs, "metrics", ms.URL())
	}
	slog.New(slog.NewJSONHandler(c.Out, nil)).Info("jetway server listening", attrs...)
}

// listenURL is the default public URL of a server listening on listen:
// http://HOST:PORT, with the machine's name for an unspecified host
// (0.0.0.0, ::).
func listenURL(listen string, hostname func() (string, error)) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if name, err := hostname(); err == nil && name != "" {
			host = name
		} else {
			host = "127.0.0.1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// reachable turns a listen address into one a runner on this machine can
// dial: an unspecified address (0.0.0.0, ::) is reached at loopback.
func reachable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}
