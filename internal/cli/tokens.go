package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
)

func newTokensCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "API tokens for people and machines, each with a role and scopes (admin)",
		Long: `API tokens for people and machines. Each token has a role:

  viewer    reads runs, logs, artifacts, Docker hosts, agents, projects
  deployer  also deploys, reruns and stops the runs of its projects; never
            reads or writes the parameter store
  admin     everything: tokens, agents, Docker hosts, projects' settings,
            parameters and the audit log

--projects limits a token to projects whose names match one of its globs
(for reading runs too). --params lists the references (SSM:… and SECRET:…
values of jetway.yaml and -e) that the runs the token starts may resolve:
a run referencing anything else is refused before it is queued, naming
what it may not read, and its key pair to the parameter store covers only
what is granted. A deployer without --params starts runs that resolve no
reference; an admin's runs resolve any.

The server's own token (the file token of its data dir) is the first
admin token, named "admin"; it is not listed and cannot be revoked here.
Tokens are stored hashed and printed once, by jetway tokens create. Every
request with a token is recorded in the audit log under the token's name
(jetway audit --help).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTokensCreateCommand(c), newTokensLsCommand(c), newTokensRevokeCommand(c))
	return cmd
}

type tokensCreateOptions struct {
	clientFlags
	role     string
	projects []string
	params   []string
	expires  string
	json     bool
}

func newTokensCreateCommand(c *CLI) *cobra.Command {
	var opts tokensCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME --role admin|deployer|viewer [--projects GLOB,…] [--params GLOB,…] [--expires 90d]",
		Short: "Create a token and print it, once",
		Long: `Create API token NAME and print it. It is shown this once: the server keeps
only a hash. NAME is who holds it (a person, a CI system): the audit log
records it with everything the token does.

Globs match whole names: * matches any run of characters but /, ** any
run including /, ? one character. A --params glob matches the name of a
parameter (/prod/app/*) or of a secret (SECRET:prod/app/**); prefix a
glob with SSM: or SECRET: to match only that store's names.

Examples:
  jetway tokens create alice --role deployer --projects 'shop-*' --params '/prod/shop/**'
  jetway tokens create ci --role deployer --projects api --params '/prod/api/*,SECRET:prod/api/*' --expires 90d
  jetway tokens create auditor --role viewer`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokensCreate(cmd.Context(), c, opts, args[0])
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.role, "role", "", "admin, deployer or viewer (required)")
	cmd.Flags().StringSliceVar(&opts.projects, "projects", nil, "globs of the projects the token may see and deploy (default: all)")
	cmd.Flags().StringSliceVar(&opts.params, "params", nil, "globs of the references its runs may resolve (default: none; all for admin)")
	cmd.Flags().StringVar(&opts.expires, "expires", "", "life of the token: 90d, 12h, 30m (default: never expires)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON (the token in field token)")
	return cmd
}

// parseLife reads --expires: a Go duration, or a whole number of days.
func parseLife(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, usageError("--expires %q: give a positive number of days (90d), or hours (12h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usageError("--expires %q: give a positive number of days (90d), or hours (12h)", s)
	}
	return d, nil
}

func runTokensCreate(ctx context.Context, c *CLI, opts tokensCreateOptions, name string) error {
	if opts.role == "" {
		return usageError("--role is required: admin, deployer or viewer (see jetway tokens --help)")
	}
	if err := api.ValidRole(opts.role); err != nil {
		return usageError("--role: %v", err)
	}
	req := api.NewTokenRequest{Name: name, Role: opts.role, Projects: opts.projects, Params: opts.params}
	if opts.expires != "" {
		life, err := parseLife(opts.expires)
		if err != nil {
			return err
		}
		req.ExpiresIn = int64(life.Seconds())
	}
	var out api.NewToken
	if err := opts.client(c).Do(ctx, http.MethodPost, "/v1/tokens", nil, req, &out); err != nil {
		return clientError(err)
	}
	if opts.json {
		return printJSON(c.Out, out)
	}
	fmt.Fprintln(c.Out, out.Secret)
	fmt.Fprintf(c.Err, "token %s (%s) created; it is shown this once. Use it with jetway login, or JETWAY_TOKEN.\n", out.Name, describeScopes(out.Token))
	return nil
}

// describeScopes says in a few words what a token may do.
func describeScopes(t api.Token) string {
	parts := []string{"role " + t.Role}
	if len(t.Projects) > 0 {
		parts = append(parts, "projects "+strings.Join(t.Projects, ","))
	}
	if len(t.Params) > 0 {
		parts = append(parts, "references "+strings.Join(t.Params, ","))
	}
	if t.ExpiresAt != nil {
		parts = append(parts, "expires "+t.ExpiresAt.Local().Format(time.DateTime))
	}
	return strings.Join(parts, ", ")
}

type tokensLsOptions struct {
	clientFlags
	json bool
}

func newTokensLsCommand(c *CLI) *cobra.Command {
	var opts tokensLsOptions
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the tokens: name, role, scopes, created, last used, expires",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokensLs(cmd.Context(), c, opts)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func runTokensLs(ctx context.Context, c *CLI, opts tokensLsOptions) error {
	var tokens []api.Token
	if err := opts.client(c).Do(ctx, http.MethodGet, "/v1/tokens", nil, nil, &tokens); err != nil {
		return clientError(err)
	}
	if opts.json {
		if tokens == nil {
			tokens = []api.Token{}
		}
		return printJSON(c.Out, tokens)
	}
	if len(tokens) == 0 {
		fmt.Fprintln(c.Out, "no tokens but the server's own admin token; make one with jetway tokens create --help")
		return nil
	}
	return printTokens(c.Out, tokens, time.Now())
}

func printTokens(w io.Writer, tokens []api.Token, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tPROJECTS\tPARAMS\tCREATED\tLAST USED\tEXPIRES")
	for _, t := range tokens {
		used, expires := "never", "never"
		if t.LastUsedAt != nil {
			used = ago(now.Sub(*t.LastUsedAt))
		}
		if t.ExpiresAt != nil {
			expires = t.ExpiresAt.Local().Format(time.DateTime)
			if !now.Before(*t.ExpiresAt) {
				expires += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, first(strings.Join(t.Projects, ","), "all"),
			first(strings.Join(t.Params, ","), paramsDefault(t.Role)), ago(now.Sub(t.CreatedAt)), used, expires)
	}
	return tw.Flush()
}

// paramsDefault is what a token without --params lets its runs resolve.
func paramsDefault(role string) string {
	if role == api.RoleAdmin {
		return "all"
	}
	return "none"
}

func newTokensRevokeCommand(c *CLI) *cobra.Command {
	var opts clientFlags
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: its next request is refused",
		Long: `Revoke token NAME. Its next request, and every dashboard session signed in
with it, is refused. Runs it started go on with their own run tokens.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.client(c).Do(cmd.Context(), http.MethodDelete, "/v1/tokens/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return clientError(err)
			}
			fmt.Fprintf(c.Out, "token %s revoked\n", args[0])
			return nil
		},
	}
	opts.bind(cmd.Flags())
	return cmd
}
