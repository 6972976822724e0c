package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
)

// login is one saved server and token: a context.
type login struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// defaultContext names the login saved without --name, and the single
// login of a file written before contexts.
const defaultContext = "default"

// contextFlag is the client commands' flag choosing a saved login.
const contextFlag = "context"

// loginFile is what `jetway login` saves. Server and Token repeat the
// current context, so that a jetway from before contexts, which reads only
// them, uses it; a file of such a jetway, which has only them, reads as the
// one context "default".
type loginFile struct {
	Server   string           `json:"server,omitempty"`
	Token    string           `json:"token,omitempty"`
	Current  string           `json:"current,omitempty"`
	Contexts map[string]login `json:"contexts,omitempty"`
}

// loginPath is $XDG_CONFIG_HOME/jetway/login.json, else ~/.config/….
func (c *CLI) loginPath() string {
	if x := c.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "jetway", "login.json")
	}
	return filepath.Join(c.Home(), ".config", "jetway", "login.json")
}

// loadLogins reads the login file; a missing one is empty.
func (c *CLI) loadLogins() (loginFile, error) {
	var f loginFile
	data, err := os.ReadFile(c.loginPath())
	if os.IsNotExist(err) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("reading %s: %w", c.loginPath(), err)
	}
	if len(f.Contexts) == 0 && f.Server != "" {
		f.Contexts = map[string]login{defaultContext: {Server: f.Server, Token: f.Token}}
		f.Current = defaultContext
	}
	return f, nil
}

func (c *CLI) saveLogins(f loginFile) (string, error) {
	cur := f.Contexts[f.Current]
	f.Server, f.Token = cur.Server, cur.Token
	path := c.loginPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	data, _ := json.MarshalIndent(f, "", "  ")
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return "", err
	}
	// WriteFile keeps the mode of a file that exists.
	return path, os.Chmod(path, 0o600)
}

// contextName is the context a command uses: name (--context), else
// JETWAY_CONTEXT, else the current one; explicit says it was asked for.
func (c *CLI) contextName(name string, f loginFile) (_ string, explicit bool) {
	if n := first(name, c.Getenv("JETWAY_CONTEXT")); n != "" {
		return n, true
	}
	return f.Current, false
}

// savedLogin is the saved login to use (see contextName); an empty one
// when none is saved, and an error when the context asked for is not.
func (c *CLI) savedLogin(name string) (login, string, error) {
	f, err := c.loadLogins()
	if err != nil {
		return login{}, "", err
	}
	name, explicit := c.contextName(name, f)
	l, ok := f.Contexts[name]
	if !ok && explicit {
		return login{}, name, unknownContext(name, f)
	}
	return l, name, nil
}

func unknownContext(name string, f loginFile) error {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range f.Contexts {
			if !yield(n) {
				return
			}
		}
	})
	if len(names) == 0 {
		return usageError("no context %q: none is saved; jetway login --name %s --server URL --token TOKEN saves one", name, name)
	}
	return usageError("no context %q; the saved ones are %s (jetway context ls)", name, strings.Join(names, ", "))
}

// checkContext refuses, before a client command runs, a --context or
// JETWAY_CONTEXT that names no saved login.
func checkContext(c *CLI, cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup(contextFlag)
	if fl == nil {
		return nil
	}
	if fl.Value.String() == "" && c.Getenv("JETWAY_CONTEXT") == "" {
		return nil
	}
	_, _, err := c.savedLogin(fl.Value.String())
	return err
}

type loginOptions struct {
	name, server, token string
}

func newLoginCommand(c *CLI) *cobra.Command {
	var opts loginOptions
	cmd := &cobra.Command{
		Use:   "login [--name NAME] --server URL --token TOKEN",
		Short: "Save a server address and API token (a context) for later commands",
		Long: `Save a server address and API token as a context named --name ("default"
without it), in ~/.config/jetway/login.json (readable by you only), and make
it the current one. The token is checked first (GET /v1/whoami). Flags and
JETWAY_SERVER / JETWAY_TOKEN still win; --context NAME or JETWAY_CONTEXT
picks another context for one command, jetway context use NAME for all.

The URL may also be given as the argument. The API token is in the file
token of the server's data dir, readable by the server's user only:
~/.local/share/jetway/token of that user, or DIR/token with
'jetway server --data DIR'; jetway tokens create makes others.`,
		Example: `  jetway login --server http://jetway.internal:7070 --token "$(cat token)"
  jetway login --name prod --server https://jetway.example.com --token "$TOKEN"
  jetway context use default`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.server != "" && opts.server != args[0] {
					return usageError("give the server URL once: as the argument or --server")
				}
				opts.server = args[0]
			}
			return runLogin(cmd, c, opts)
		},
	}
	cmd.Flags().StringVar(&opts.name, "name", "", `the context's name (default "default")`)
	cmd.Flags().StringVar(&opts.server, "server", "", "server URL, e.g. http://jetway.internal:7070")
	cmd.Flags().StringVar(&opts.token, "token", "", "API token")
	return cmd
}

func runLogin(cmd *cobra.Command, c *CLI, opts loginOptions) error {
	if opts.server == "" || opts.token == "" {
		return usageError("give both --server and --token (the token is in the server's data dir, file token)")
	}
	if opts.name == "" {
		opts.name = defaultContext
	}
	if !contextNameRE.MatchString(opts.name) {
		return usageError("--name %q: give letters, digits, '.', '_', '-' (up to 64)", opts.name)
	}
	server := strings.TrimSuffix(opts.server, "/")
	var who api.Whoami
	if err := apiclient.New(server, opts.token).Do(cmd.Context(), http.MethodGet, "/v1/whoami", nil, nil, &who); err != nil {
		return clientError(err)
	}
	f, err := c.loadLogins()
	if err != nil {
		return withExit(ExitFailed, err)
	}
	if f.Contexts == nil {
		f.Contexts = map[string]login{}
	}
	f.Contexts[opts.name] = login{Server: server, Token: opts.token}
	f.Current = opts.name
	path, err := c.saveLogins(f)
	if err != nil {
		return withExit(ExitFailed, err)
	}
	fmt.Fprintf(c.Out, "logged in to %s as %s (%s); saved as context %s, now the current one, in %s\n", server, who.Name, who.Role, opts.name, path)
	return nil
}

// contextNameRE is what a context's name may be.
var contextNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func newContextCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context",
		Short: "List the saved logins (contexts) and choose the current one",
		Long: `A context is a server and token saved by jetway login --name NAME. Client
commands use the current one unless --context NAME, JETWAY_CONTEXT, or
--server / JETWAY_SERVER say otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var asJSON bool
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the contexts; * marks the current one",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runContextList(c, asJSON)
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON (no tokens)")
	use := &cobra.Command{
		Use:   "use NAME",
		Short: "Make NAME the current context",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContextUse(c, args[0])
		},
	}
	cmd.AddCommand(ls, use)
	return cmd
}

// contextEntry is a line of jetway context ls: never the token.
type contextEntry struct {
	Name    string `json:"name"`
	Server  string `json:"server"`
	Current bool   `json:"current"`
}

func runContextList(c *CLI, asJSON bool) error {
	f, err := c.loadLogins()
	if err != nil {
		return withExit(ExitFailed, err)
	}
	cur, _ := c.contextName("", f)
	entries := []contextEntry{}
	for name, l := range f.Contexts {
		entries = append(entries, contextEntry{Name: name, Server: l.Server, Current: name == cur})
	}
	slices.SortFunc(entries, func(a, b contextEntry) int { return strings.Compare(a.Name, b.Name) })
	if asJSON {
		return printJSON(c.Out, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(c.Err, "no context saved: jetway login --name NAME --server URL --token TOKEN saves one")
		return nil
	}
	tw := tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENT\tNAME\tSERVER")
	for _, e := range entries {
		mark := ""
		if e.Current {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, e.Name, e.Server)
	}
	return tw.Flush()
}

func runContextUse(c *CLI, name string) error {
	f, err := c.loadLogins()
	if err != nil {
		return withExit(ExitFailed, err)
	}
	if _, ok := f.Contexts[name]; !ok {
		return unknownContext(name, f)
	}
	f.Current = name
	if _, err := c.saveLogins(f); err != nil {
		return withExit(ExitFailed, err)
	}
	fmt.Fprintf(c.Out, "now using context %s (%s)\n", name, f.Contexts[name].Server)
	return nil
}
