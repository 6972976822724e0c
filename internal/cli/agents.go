package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
)

func newAgentsCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "Manage runner agents: their tokens, and who is connected",
		Long: `Manage the agents that execute runs on other machines (see jetway agent
--help). Each agent has a name and a token of its own, which can lease and
report runs and nothing else. These commands use the API token, like every
client command.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	token := &cobra.Command{
		Use:   "token",
		Short: "Create agent tokens",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	token.AddCommand(newAgentsTokenCreateCommand(c))
	cmd.AddCommand(token, newAgentsLsCommand(c), newAgentsRevokeCommand(c))
	return cmd
}

type agentsTokenCreateOptions struct {
	clientFlags
	json           bool
	labels         string
	maxConcurrency int
}

func newAgentsTokenCreateCommand(c *CLI) *cobra.Command {
	var opts agentsTokenCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an agent and print its token (once)",
		Long: `Create the agent NAME (lower-case letters, digits, ., _ and -) and print its
token on standard output, once: the server keeps only a hash of it. How to
start the agent goes to standard error, so that

  jetway agents token create build-1 > build-1.token

writes the token alone. A name is taken until it is revoked.

An agent token reads the secrets of every run its agent leases, so what the
agent may claim is decided here, not by the agent: --labels are the labels
(besides the arch and os of its machine) it may have — runs whose runs_on
asks for others never go to it, whatever its own --labels say — and
--max-concurrency bounds how many runs it holds at once.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAgentsTokenCreate(cmd.Context(), c, opts, args[0])
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON {name, token}")
	cmd.Flags().StringVar(&opts.labels, "labels", "", "labels k=v,… the agent may claim (e.g. pool=builders); without, it takes only runs without runs_on (or with arch/os only)")
	cmd.Flags().IntVar(&opts.maxConcurrency, "max-concurrency", 0, "runs the agent may hold at once (0: 8)")
	return cmd
}

func runAgentsTokenCreate(ctx context.Context, c *CLI, opts agentsTokenCreateOptions, name string) error {
	client := opts.client(c)
	var allowed map[string]string
	if strings.TrimSpace(opts.labels) != "" {
		labels, err := parseLabels(opts.labels)
		if err != nil {
			return err
		}
		allowed = map[string]string{}
		for _, part := range strings.Split(opts.labels, ",") {
			k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			allowed[k] = labels[k]
		}
	}
	var resp api.NewAgentResponse
	if err := client.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: name, Labels: allowed, MaxConcurrency: opts.maxConcurrency}, &resp); err != nil {
		return clientError(err)
	}
	if opts.json {
		return printJSON(c.Out, resp)
	}
	fmt.Fprintln(c.Out, resp.Token)
	server := client.BaseURL
	if isLoopback(server) {
		server = "URL" // this machine's address means nothing to the agent's
	}
	fmt.Fprintf(c.Err, `
This is agent %[1]s's token; it is not shown again. On the agent's machine, as root:

  JETWAY_AGENT_TOKEN=<the token> jetway agent --server %[2]s --name %[1]s%[3]s

or as a service: put JETWAY_AGENT_TOKEN=<the token> in /etc/jetway/agent.env
(mode 0600) and install deploy/systemd/jetway-agent.service.
`, resp.Name, server, labelsFlag(opts.labels))
	return nil
}

func labelsFlag(labels string) string {
	if strings.TrimSpace(labels) == "" {
		return ""
	}
	return " --labels " + strings.TrimSpace(labels)
}

// isLoopback tells whether a server URL names this machine.
func isLoopback(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

type agentsLsOptions struct {
	clientFlags
	json bool
}

func newAgentsLsCommand(c *CLI) *cobra.Command {
	var opts agentsLsOptions
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List agents: labels, version, address, last seen, running runs",
		Long: `List the agents the server knows: every agent with a token (revoked ones
marked), and the server's own agent "local" when it executes runs. LAST SEEN
is the agent's last lease request or heartbeat (one a second while it is
connected); ADDRESS is where that came from; SLOTS is its running runs of
its --concurrency.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgentsLs(cmd.Context(), c, opts)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func runAgentsLs(ctx context.Context, c *CLI, opts agentsLsOptions) error {
	var agents []api.Agent
	if err := opts.client(c).Do(ctx, http.MethodGet, "/v1/agents", nil, nil, &agents); err != nil {
		return clientError(err)
	}
	if opts.json {
		if agents == nil {
			agents = []api.Agent{}
		}
		return printJSON(c.Out, agents)
	}
	return printAgents(c.Out, agents, time.Now())
}

// printAgents renders the table of jetway agents ls as of now.
func printAgents(w io.Writer, agents []api.Agent, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLABELS\tVERSION\tADDRESS\tLAST SEEN\tSLOTS\tRUNNING")
	for _, a := range agents {
		name := a.Name
		if a.Revoked {
			name += " (revoked)"
		}
		seen := "never"
		if a.LastSeen != nil {
			seen = ago(now.Sub(*a.LastSeen))
		}
		slots := "-"
		if a.LastSeen != nil {
			slots = fmt.Sprintf("%d/%d", len(a.Running), a.Concurrency)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, first(config.LabelString(a.Labels), "-"), first(a.Version, "-"), first(a.Address, "-"),
			seen, slots, first(strings.Join(a.Running, ","), "-"))
	}
	return tw.Flush()
}

// ago renders a past duration coarsely: "3s ago", "5m ago", "2h ago", "4d ago".
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

func newAgentsRevokeCommand(c *CLI) *cobra.Command {
	var opts clientFlags
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an agent's token; its running runs are cancelled",
		Long: `Revoke agent NAME's token. The server refuses it from the next lease or
heartbeat on (the agent stops), and the agent's running runs are cancelled.
The name can then be given to a new token.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.client(c).Do(cmd.Context(), http.MethodDelete, "/v1/agents/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return clientError(err)
			}
			fmt.Fprintf(c.Out, "agent %s revoked; its running runs are cancelled\n", args[0])
			return nil
		},
	}
	opts.bind(cmd.Flags())
	return cmd
}

// parseLabels reads --labels k=v,… over the defaults arch=GOARCH and
// os=GOOS.
func parseLabels(s string) (map[string]string, error) {
	labels := map[string]string{"arch": runtime.GOARCH, "os": runtime.GOOS}
	if strings.TrimSpace(s) == "" {
		return labels, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !config.ValidLabel(k) || !config.ValidLabel(v) {
			return nil, usageError("--labels %q: want key=value pairs separated by commas, of letters, digits, -, _ and . (e.g. pool=builders,arch=amd64)", part)
		}
		labels[k] = v
	}
	return labels, nil
}
