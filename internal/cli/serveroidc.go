package cli

import (
	"context"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
)

type rotateOIDCKeyOptions struct {
	clientFlags
	json bool
}

func newServerRotateOIDCKeyCommand(c *CLI) *cobra.Command {
	var opts rotateOIDCKeyOptions
	cmd := &cobra.Command{
		Use:   "rotate-oidc-key",
		Short: "Make a new key sign runs' OIDC tokens; the old one stays published until its tokens expire",
		Long: `Make a new signing key for the OIDC tokens runs get (id_tokens in
jetway.yaml), on a running server; every server of its database signs with
the new key from the next token on.

The key it replaces is retired, not removed: it stays in the published key
set (/.well-known/jwks.json) for an hour and five minutes, longer than any
token it signed lives, so that those tokens verify until they expire. Keys
retired longer ago are dropped now. Clouds that trust the server (AWS IAM's
OIDC provider) need no change: they fetch the key set again when they meet
a token of a key they have not seen.

Rotate on a schedule, and at once if the master key or the database may
have leaked (the keys are sealed with the master key in the database). The
command takes an admin's API token, like every client command.`,
		Example: `  jetway server rotate-oidc-key
  jetway server rotate-oidc-key --server https://jetway.example.com --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRotateOIDCKey(cmd.Context(), c, opts)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func runRotateOIDCKey(ctx context.Context, c *CLI, opts rotateOIDCKeyOptions) error {
	var out api.OIDCRotateResponse
	if err := opts.client(c).Do(ctx, http.MethodPost, "/v1/oidc/rotate", nil, nil, &out); err != nil {
		return clientError(err)
	}
	if opts.json {
		return printJSON(c.Out, out)
	}
	fmt.Fprintf(c.Out, "new signing key %s; tokens are signed with it from now on\n", out.Signer)
	if out.Dropped > 0 {
		fmt.Fprintf(c.Out, "dropped %d retired key(s) whose tokens have all expired\n", out.Dropped)
	}
	tw := tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tCREATED\tSTATE")
	for _, k := range out.Keys {
		state := "signs"
		if k.PublishedUntil != nil {
			state = "retired; published until " + k.PublishedUntil.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.CreatedAt.Local().Format(time.DateTime), state)
	}
	return tw.Flush()
}
