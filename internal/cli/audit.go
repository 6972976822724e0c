package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
)

type auditOptions struct {
	clientFlags
	since string
	limit int
	json  bool
}

func newAuditCommand(c *CLI) *cobra.Command {
	var opts auditOptions
	cmd := &cobra.Command{
		Use:   "audit [--since 24h|2026-12-01] [--json]",
		Short: "Show the audit log: who did what, and what was refused (admin)",
		Long: `Show the server's audit log, oldest first: the name of the token behind
each deploy, rerun and stop, token creation and revocation, parameter
writes and deletes, Docker host, agent and project changes and dashboard
sign-ins, every request the server refused to a token, and which run was
given which parameter names and read which (never a value).

The log is kept in the server's database, on every replica, for as long
as runs are (--retain-days of jetway server); nothing in the API changes
or deletes an entry. Only an admin token may read it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd.Context(), c, opts)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.since, "since", "24h", "entries from this long ago (90m, 24h, 7d) or this date (2026-12-01, RFC 3339); empty: all kept")
	cmd.Flags().IntVar(&opts.limit, "limit", 1000, "at most this many entries (the oldest of the range first)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

// parseSince reads --since: a duration back from now, or a date.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := parseLife(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, time.DateTime, time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError("--since %q: give a duration back from now (24h, 7d) or a date (2026-12-01, 2026-12-01T10:00:00Z)", s)
}

func runAudit(ctx context.Context, c *CLI, opts auditOptions) error {
	since, err := parseSince(opts.since, time.Now())
	if err != nil {
		return err
	}
	if opts.limit <= 0 {
		return usageError("--limit must be positive")
	}
	q := url.Values{"limit": {strconv.Itoa(opts.limit)}}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	var entries []api.AuditEntry
	if err := opts.client(c).Do(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, nil, &entries); err != nil {
		return clientError(err)
	}
	if opts.json {
		if entries == nil {
			entries = []api.AuditEntry{}
		}
		return printJSON(c.Out, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(c.Out, "no audit entries in that range (try --since '')")
		return nil
	}
	return printAudit(c.Out, entries)
}

func printAudit(w io.Writer, entries []api.AuditEntry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tACTION\tTARGET\tOUTCOME\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Actor, e.Action, first(e.Target, "-"), e.Outcome, e.Detail)
	}
	return tw.Flush()
}
