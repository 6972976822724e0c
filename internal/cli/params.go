package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/mask"
)

func newParamsCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "params",
		Short: "Manage the embedded parameter store (put, get, ls, rm)",
		Long: `Manage the parameters that run variables reference, such as
JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY. Secure values (SecureString) are
encrypted at rest and are only printed with get --decrypt.

The store also speaks the AWS SSM API, so the AWS CLI and SDKs work against
it (see 'jetway server').`,
	}
	cmd.AddCommand(newParamsPutCommand(c), newParamsGetCommand(c), newParamsLsCommand(c), newParamsRmCommand(c))
	return cmd
}

type paramsPutOptions struct {
	clientFlags
	typ, value, valueFile, description string
	overwrite                          bool
}

func newParamsPutCommand(c *CLI) *cobra.Command {
	var opts paramsPutOptions
	cmd := &cobra.Command{
		Use:   "put NAME",
		Short: "Store a parameter (value from --value, --value-file or stdin)",
		Long: `Store a parameter. The value comes from --value, --value-file, or standard
input, byte for byte (multi-line SSH keys keep their line breaks).`,
		Example: `  jetway params put /dev/JETS_SSH_KEY --type SecureString --value-file ~/.ssh/deploy_key
  ssh-keyscan -H -t rsa docker.internal | jetway params put /dev/JETS_SSH_KNOWN --type SecureString
  jetway params put /dev/DOCKER_USER --value deploybot --overwrite`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runParamsPut(cmd.Context(), c, opts, args[0], cmd.Flags().Changed("value"))
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.typ, "type", "String", "String, StringList or SecureString")
	cmd.Flags().StringVar(&opts.value, "value", "", "the value")
	cmd.Flags().StringVar(&opts.valueFile, "value-file", "", "read the value from this file")
	cmd.Flags().StringVar(&opts.description, "description", "", "what the parameter is for")
	cmd.Flags().BoolVar(&opts.overwrite, "overwrite", false, "replace an existing parameter (as a new version)")
	return cmd
}

func runParamsPut(ctx context.Context, c *CLI, opts paramsPutOptions, name string, valueSet bool) error {
	if err := config.ValidateParameterName(name); err != nil {
		return usageError("%v", err)
	}
	switch opts.typ {
	case "String", "StringList", "SecureString":
	default:
		return usageError("--type %q: use String, StringList or SecureString", opts.typ)
	}
	var value []byte
	switch {
	case valueSet && opts.valueFile != "":
		return usageError("give --value or --value-file, not both")
	case valueSet:
		value = []byte(opts.value)
	case opts.valueFile != "":
		v, err := os.ReadFile(opts.valueFile)
		if err != nil {
			return usageError("--value-file: %v", err)
		}
		value = v
	default:
		if f, ok := c.In.(*os.File); ok && isTerminal(f) {
			fmt.Fprintln(c.Err, "Reading the value from standard input; end it with Ctrl-D.")
		}
		v, err := io.ReadAll(c.In)
		if err != nil {
			return err
		}
		value = v
	}
	if len(value) == 0 {
		return usageError("the value is empty")
	}
	// Runs mask secure values in their logs, and the masker refuses one
	// too short to mask: such a value would fail every run that reads it.
	if opts.typ == "SecureString" && len(value) < mask.MinSecretLen {
		return usageError("the value is %d bytes long; a SecureString must be at least %d bytes, as runs mask it in their logs and would have to blank every occurrence of so short a string (runs reading it would fail): use a longer value", len(value), mask.MinSecretLen)
	}
	var out struct {
		Version int64 `json:"version"`
	}
	err := opts.client(c).Do(ctx, http.MethodPost, "/v1/params", nil, api.PutParamRequest{
		Name: name, Type: opts.typ, Value: string(value), Description: opts.description, Overwrite: opts.overwrite,
	}, &out)
	if err != nil {
		var se *apiclient.StatusError
		if errors.As(err, &se) && se.Status == http.StatusConflict {
			return withExit(ExitFailed, fmt.Errorf("%s exists already; add --overwrite to store a new version", name))
		}
		return clientError(err)
	}
	fmt.Fprintf(c.Out, "stored %s (%s), version %d\n", name, opts.typ, out.Version)
	return nil
}

type paramsGetOptions struct {
	clientFlags
	decrypt, json bool
}

func newParamsGetCommand(c *CLI) *cobra.Command {
	var opts paramsGetOptions
	cmd := &cobra.Command{
		Use:   "get NAME[:VERSION]",
		Short: "Print a parameter's value",
		Long: `Print a parameter's value exactly as stored. A SecureString is printed only
with --decrypt.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p api.ParamInfo
			q := url.Values{"name": {args[0]}}
			if opts.decrypt {
				q.Set("decrypt", "1")
			}
			if err := opts.client(c).Do(cmd.Context(), http.MethodGet, "/v1/params/value", q, nil, &p); err != nil {
				return clientError(err)
			}
			if opts.json {
				return printJSON(c.Out, p)
			}
			if p.Value == nil {
				return withExit(ExitFailed, fmt.Errorf("%s is a SecureString; add --decrypt to print its value", p.Name))
			}
			_, err := io.WriteString(c.Out, *p.Value)
			if f, ok := c.Out.(*os.File); ok && isTerminal(f) && !strings.HasSuffix(*p.Value, "\n") {
				fmt.Fprintln(c.Out)
			}
			return err
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.decrypt, "decrypt", false, "print a SecureString's value")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print name, type, version and value as JSON")
	return cmd
}

func newParamsLsCommand(c *CLI) *cobra.Command {
	var opts struct {
		clientFlags
		json bool
	}
	cmd := &cobra.Command{
		Use:   "ls [PATH]",
		Short: "List parameters (never their values)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if len(args) == 1 {
				q.Set("path", args[0])
			}
			var list []api.ParamInfo
			if err := opts.client(c).Do(cmd.Context(), http.MethodGet, "/v1/params", q, nil, &list); err != nil {
				return clientError(err)
			}
			if opts.json {
				return printJSON(c.Out, list)
			}
			tw := tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tVERSION\tLAST MODIFIED")
			for _, p := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", p.Name, p.Type, p.Version, p.LastModified.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the list as JSON")
	return cmd
}

func newParamsRmCommand(c *CLI) *cobra.Command {
	var opts clientFlags
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a parameter and its history",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.client(c).Do(cmd.Context(), http.MethodDelete, "/v1/params", url.Values{"name": {args[0]}}, nil, nil); err != nil {
				return clientError(err)
			}
			fmt.Fprintf(c.Out, "deleted %s\n", args[0])
			return nil
		},
	}
	opts.bind(cmd.Flags())
	return cmd
}

// clientError chooses the exit status for an API call's error.
func clientError(err error) error {
	var unreachable *apiclient.UnreachableError
	if errors.As(err, &unreachable) {
		return withExit(ExitUnreachable, err)
	}
	return withExit(ExitFailed, err)
}

// exactArgs is cobra.ExactArgs with a message that names the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes %s (got %d arguments); see --help", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
