package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/agent"
	"github.com/jetway-dev/jetway/internal/executor"
	"github.com/jetway-dev/jetway/internal/runproto"
)

type agentOptions struct {
	servers          string
	token            string
	name             string
	labels           string
	concurrency      int
	sandbox          sandboxFlags
	logDir           string
	drainTimeout     time.Duration
	allowLocalDocker bool
	ops              opsFlags
}

func newAgentCommand(c *CLI) *cobra.Command {
	var opts agentOptions
	cmd := &cobra.Command{
		Use:   "agent --server URL [--labels k=v,…] [--concurrency N]",
		Short: "Execute the server's runs on this machine (a runner agent)",
		Long: `Execute runs for a jetway server on this machine. The agent asks the server
for work (a long poll: a queued run reaches a waiting agent at once), starts
a runner for each run in a fresh sandbox in --work-dir, and reports every
second which runs it executes; jetway stop reaches a run's runner here
within about two seconds.

It needs only a way to the server: the server never connects to the agent,
and the agent needs neither the server's data dir nor the API token. It
needs an agent token, which can lease and report runs and nothing else:

  jetway agents token create NAME        (where the API token is, e.g. on the server)

Give it in $JETWAY_AGENT_TOKEN rather than --token, which every user of
this machine can read in the process list.

Run it as root, like the server: each run then gets a user of its own from
--run-uids and its own PID, mount and IPC namespaces (see jetway server
--help). Without root the runs execute as the agent's user and can read its
token. What runs of a killed agent left in --work-dir is removed at start.

A run goes to an agent whose labels include all of its jetway.yaml runs_on
(runs_on: {pool: builders} needs --labels pool=builders). Every agent has
arch (this machine's, e.g. amd64) and os=linux unless --labels says
otherwise. One run per project executes at a time across all agents.

With several --server URLs (addresses of one server, as fallbacks) the
agent talks to one and moves to the next when it gets no answer or a 5xx;
its runners talk to the one that was current when they started.

SIGTERM or Ctrl-C drains: no more runs are taken, and the running ones have
--drain-timeout to finish before they are stopped (they report themselves
cancelled); a second signal stops them at once. If the agent is killed
(kill -9, the machine dies) its runners die with it, and once the agent has
been silent for the server's lease timeout (30s) the server fails its runs
(or queues again, once, a run whose runner had not started yet).
A revoked token (jetway agents revoke NAME) stops the agent and its runs,
with exit status 2 like any configuration error.

The runners' own diagnostics (not the runs' logs, which go to the server)
are in --log-dir, a file per run, kept when its runner did not end well.`,
		Example: `  JETWAY_AGENT_TOKEN=jwa_… jetway agent --server http://jetway.internal:7070 --labels pool=builders --concurrency 4
  jetway agent --server http://10.0.0.2:7070,http://10.0.0.3:7070 --name build-2   # token from $JETWAY_AGENT_TOKEN
  # as a service: deploy/systemd/jetway-agent.service`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), c, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.servers, "server", "", "the jetway server's URL, or several separated by commas (tried in order; default $JETWAY_AGENT_SERVER)")
	f.StringVar(&opts.token, "token", "", "the agent token, jwa_… (default $JETWAY_AGENT_TOKEN; see jetway agents token create)")
	f.StringVar(&opts.name, "name", "", "the agent's name, as given to jetway agents token create (default this machine's host name); the server knows the agent by its token")
	f.StringVar(&opts.labels, "labels", "", "labels runs_on matches, k=v,… (arch and os are set unless given)")
	f.IntVar(&opts.concurrency, "concurrency", 1, "runs that execute at once on this machine")
	f.DurationVar(&opts.drainTimeout, "drain-timeout", 10*time.Minute, "how long running runs may go on after SIGTERM before they are stopped")
	f.StringVar(&opts.logDir, "log-dir", "", "where runners write their own diagnostics, a file per run (default /var/log/jetway/runners as root, else ~/.local/state/jetway/runners)")
	f.BoolVar(&opts.allowLocalDocker, "allow-local-docker", false, "let runs use this machine's own Docker daemon (a phase can then control this machine)")
	opts.sandbox.bind(f)
	opts.ops.bind(f)
	return cmd
}

func runAgent(ctx context.Context, c *CLI, opts agentOptions) error {
	servers, err := parseServers(first(opts.servers, c.Getenv("JETWAY_AGENT_SERVER")))
	if err != nil {
		return err
	}
	token := first(opts.token, c.Getenv("JETWAY_AGENT_TOKEN"))
	switch {
	case token == "":
		return usageError("no agent token: set JETWAY_AGENT_TOKEN (or --token); create one where the API token is, with jetway agents token create NAME")
	case !strings.HasPrefix(token, "jwa_"):
		return usageError("the agent token should start with jwa_ (an API token cannot run an agent); create one with jetway agents token create NAME")
	}
	labels, err := parseLabels(opts.labels)
	if err != nil {
		return err
	}
	if opts.concurrency < 1 {
		return usageError("--concurrency %d: an agent executes at least 1 run at a time", opts.concurrency)
	}
	if opts.name == "" {
		if opts.name, err = os.Hostname(); err != nil {
			return usageError("--name: this machine's host name is unknown (%v); give a name", err)
		}
	}
	sbConfig, err := opts.sandbox.config(c)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("finding the jetway binary for runners: %w", err))
	}
	if opts.logDir == "" {
		opts.logDir = c.defaultRunnerLogDir()
	}
	log, err := opts.ops.logger(c, slog.LevelInfo)
	if err != nil {
		return err
	}
	ms, err := opts.ops.listenMetrics()
	if err != nil {
		return err
	}
	defer ms.stop()
	ms.serve(log)
	if os.Geteuid() != 0 {
		log.Warn("not root: runs execute as this user, without sandbox users or namespaces, and can read this agent's token; run the agent as root")
	}

	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stopSignals()
	stopNow, release := secondSignal(ctx)
	defer release()

	coord := runproto.NewCoordinatorClient(servers, token, runproto.WithLogger(log))
	if ms != nil {
		log.Info("jetway agent", "server", coord.CurrentServer(), "runner_logs", opts.logDir, "metrics", ms.URL())
	} else {
		log.Info("jetway agent", "server", coord.CurrentServer(), "runner_logs", opts.logDir)
	}
	err = agent.Run(ctx, agent.Options{
		Coordinator: coord,
		Info:        runproto.AgentInfo{Name: opts.name, Labels: labels, Version: readBuildVersion(debug.ReadBuildInfo()).Version, Concurrency: opts.concurrency},
		Launcher: agent.LocalLauncher(&executor.Local{
			Binary: self, LogDir: opts.logDir, WorkDir: opts.sandbox.workDir, RunUIDs: opts.sandbox.uids, Limits: opts.sandbox.limits,
			AllowLocalDocker: opts.allowLocalDocker,
			// Runners die with a killed agent without reporting; the
			// server's lease timeout decides their runs.
			ParentDeathSignal: syscall.SIGKILL,
		}),
		ServerURL:    coord.ServerList,
		Logger:       log,
		DrainTimeout: opts.drainTimeout,
		StopNow:      stopNow,
		Sandbox:      &sbConfig,
		Metrics:      ms.agentMetrics(),
	})
	if errors.Is(err, runproto.ErrAgentRefused) {
		// A configuration error: a service manager should not restart
		// the agent until someone gives it a new token.
		return withExit(ExitUsage, err)
	}
	return withExit(ExitFailed, err)
}

// secondSignal returns a channel that is closed when SIGTERM or SIGINT
// arrives after ctx has ended (the first signal ends it): the operator
// wants the drain over. release stops listening.
func secondSignal(ctx context.Context) (stopNow <-chan struct{}, release func()) {
	ch, done := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
		defer signal.Stop(sigs)
		select {
		case <-sigs:
			close(ch)
		case <-done:
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { close(done) }) }
}

// defaultRunnerLogDir is where an agent's runners write their diagnostics:
// /var/log/jetway/runners as root (systemd's LogsDirectory=jetway), else
// $XDG_STATE_HOME/jetway/runners.
func (c *CLI) defaultRunnerLogDir() string {
	if os.Geteuid() == 0 {
		return "/var/log/jetway/runners"
	}
	state := c.Getenv("XDG_STATE_HOME")
	if state == "" {
		state = filepath.Join(c.Home(), ".local", "state")
	}
	return filepath.Join(state, "jetway", "runners")
}

// parseServers reads --server: one or more base URLs separated by commas.
func parseServers(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, usageError("--server: give the jetway server's URL, e.g. --server http://jetway.internal:7070")
	}
	var servers []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, usageError("--server %q: want a URL such as http://jetway.internal:7070 (several separated by commas)", part)
		}
		servers = append(servers, strings.TrimSuffix(part, "/"))
	}
	return servers, nil
}
