package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
)

// dockerAllowanceHelp says what each allowance lets a phase do, in
// api.DockerAllowances' order; --help and projects show print it.
var dockerAllowanceHelp = map[string]string{
	api.DockerAllowPrivileged:        "--privileged containers: root on the Docker host",
	api.DockerAllowHostMounts:        "bind mounts of the host's paths, its Docker socket too",
	api.DockerAllowHostNamespaces:    "the host's network, PID, IPC, UTS, user, cgroup namespaces",
	api.DockerAllowDevices:           "--device and device cgroup rules: the host's disks, GPUs",
	api.DockerAllowCapabilities:      "--cap-add beyond Docker's defaults (SYS_ADMIN, …)",
	api.DockerAllowUnconfined:        "--security-opt seccomp=unconfined, apparmor=unconfined, …",
	api.DockerAllowBuildEntitlements: "builds asking for network.host or security.insecure",
}

// allowanceTable renders the allowances and what each allows, indented.
func allowanceTable(allow []string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, a := range allow {
		fmt.Fprintf(tw, "  %s\t%s\n", a, dockerAllowanceHelp[a])
	}
	tw.Flush()
	return b.String()
}

func newProjectsCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "Operator settings of projects: what their runs may do on the Docker host",
		Long: `Operator settings of projects, kept on the server. Phases reach their Docker
host only through the runner's guard, which holds them to a strict policy:
no privileged containers, no mounts of the host's paths, no host namespaces,
devices, added capabilities or unconfined profiles, no insecure build
entitlements, and no credentials to the host in the phases' hands. An
operator relaxes it here, per project (jetway projects set --help).

jetway.yaml cannot change these settings: it is written by the side the
guard contains. These commands use the API token, like every client
command; a run's or an agent's token is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newProjectsLsCommand(c), newProjectsShowCommand(c), newProjectsSetCommand(c), newProjectsResetCommand(c))
	return cmd
}

// projectName checks NAME before it goes to the server, with the words
// jetway.yaml's check uses.
func projectName(name string) error {
	if !config.ValidProjectName(name) {
		return usageError("project name %q: use lower-case letters, digits and - only, as project: in jetway.yaml", name)
	}
	return nil
}

type projectsLsOptions struct {
	clientFlags
	json bool
}

func newProjectsLsCommand(c *CLI) *cobra.Command {
	var opts projectsLsOptions
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the projects with settings; every other project has the strict default",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProjectsLs(cmd.Context(), c, opts)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func runProjectsLs(ctx context.Context, c *CLI, opts projectsLsOptions) error {
	var projects []api.Project
	if err := opts.client(c).Do(ctx, http.MethodGet, "/v1/projects", nil, nil, &projects); err != nil {
		return clientError(err)
	}
	if opts.json {
		if projects == nil {
			projects = []api.Project{}
		}
		return printJSON(c.Out, projects)
	}
	if len(projects) == 0 {
		fmt.Fprintln(c.Out, "no project has settings: every project has the strict default (jetway projects set --help)")
		return nil
	}
	return printProjects(c.Out, projects, time.Now())
}

// printProjects renders the table of jetway projects ls as of now.
func printProjects(w io.Writer, projects []api.Project, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDOCKER ALLOWANCES\tCREDENTIALS TO PHASES\tUPDATED")
	for _, p := range projects {
		creds := "no"
		if p.Docker.ExposeCredentials {
			creds = "yes (bypass the guard)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, first(strings.Join(p.Docker.Allow, ","), "-"), creds, ago(now.Sub(p.UpdatedAt)))
	}
	return tw.Flush()
}

type projectsShowOptions struct {
	clientFlags
	json bool
}

func newProjectsShowCommand(c *CLI) *cobra.Command {
	var opts projectsShowOptions
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a project's Docker policy, and what each of its allowances lets a phase do",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProjectsShow(cmd.Context(), c, opts, args[0])
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func runProjectsShow(ctx context.Context, c *CLI, opts projectsShowOptions, name string) error {
	if err := projectName(name); err != nil {
		return err
	}
	var p api.Project
	if err := opts.client(c).Do(ctx, http.MethodGet, "/v1/projects/"+url.PathEscape(name), nil, nil, &p); err != nil {
		return clientError(err)
	}
	if opts.json {
		return printJSON(c.Out, p)
	}
	printProject(c.Out, p)
	return nil
}

// printProject renders a project's settings for jetway projects show and
// set.
func printProject(w io.Writer, p api.Project) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "project\t%s\n", p.Name)
	fmt.Fprintf(tw, "docker policy\t%s\n", p.Docker.String())
	if p.UpdatedAt.IsZero() {
		fmt.Fprintf(tw, "updated\tnever\n")
	} else {
		fmt.Fprintf(tw, "updated\t%s\n", p.UpdatedAt.Local().Format(time.DateTime))
	}
	tw.Flush()
	if len(p.Docker.Allow) > 0 {
		fmt.Fprintf(w, "its phases may use on the Docker host:\n%s", allowanceTable(p.Docker.Allow))
	}
	if p.Docker.ExposeCredentials {
		fmt.Fprintln(w, "its phases hold the Docker host's credentials: they can reach the host without the guard, and do anything there")
	}
}

type projectsSetOptions struct {
	clientFlags
	docker      string
	exposeCreds bool
	// dockerGiven and exposeGiven: which flags were given; the others
	// keep the project's current value.
	dockerGiven, exposeGiven bool
	json                     bool
}

func newProjectsSetCommand(c *CLI) *cobra.Command {
	var opts projectsSetOptions
	cmd := &cobra.Command{
		Use:   "set NAME [--docker LIST] [--expose-docker-credentials[=false]]",
		Short: "Relax the Docker guard's strict default for one project",
		Long: `Set what project NAME's runs may do on their Docker host beyond the strict
default. Phases reach the Docker host only through the runner's guard,
which refuses what the project is not allowed here. --docker takes the
project's whole list of allowances, comma-separated (it replaces the list
the project had), from these:

` + allowanceTable(api.DockerAllowances) + `
Most of them let a phase take over the Docker host, and with it the images,
containers and build cache of every other project that uses it: grant them
only to projects trusted with the host.

--expose-docker-credentials gives the phases the runner's own credentials to
the Docker host (JETS_SSH_KEY as ~/.ssh/id_rsa, the TLS files in ~/.docker),
as before the guard. A phase holding them talks to the host directly and
bypasses the guard altogether: everything above, and more, is then its to
take.

Only these settings relax the guard; jetway.yaml cannot, since its phases
are the code the guard contains. A run gets the settings of the moment its
runner starts (fetches its spec), shows them (jetway runs show ID) and keeps
them to its end; a rerun gets the settings of its own start.

A flag not given keeps its current value:

  jetway projects set web --docker privileged,host-mounts
  jetway projects set web --expose-docker-credentials=false
  jetway projects set web --docker none     # no allowance (or --docker '')
  jetway projects reset web                 # the strict default again`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.dockerGiven = cmd.Flags().Changed("docker")
			opts.exposeGiven = cmd.Flags().Changed("expose-docker-credentials")
			return runProjectsSet(cmd.Context(), c, opts, args[0])
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.docker, "docker", "", "allowances, comma-separated: "+strings.Join(api.DockerAllowances, ",")+"; none (or '') for no allowance")
	cmd.Flags().BoolVar(&opts.exposeCreds, "expose-docker-credentials", false, "give the phases the Docker host's credentials (they can then bypass the guard)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the settings as JSON")
	return cmd
}

// parseAllowances reads --docker: allowances separated by commas, or
// "none" or nothing for none.
func parseAllowances(list string) ([]string, error) {
	var allow []string
	for _, part := range strings.Split(list, ",") {
		if part = strings.TrimSpace(part); part != "" {
			allow = append(allow, part)
		}
	}
	if len(allow) == 1 && allow[0] == "none" {
		return nil, nil
	}
	allow, err := api.NormalizeDockerAllowances(allow)
	if err != nil {
		return nil, fmt.Errorf("--docker: %w (or none)", err)
	}
	return allow, nil
}

func runProjectsSet(ctx context.Context, c *CLI, opts projectsSetOptions, name string) error {
	if err := projectName(name); err != nil {
		return err
	}
	if !opts.dockerGiven && !opts.exposeGiven {
		return usageError("give --docker LIST or --expose-docker-credentials[=false]; jetway projects set --help says what they allow")
	}
	var allow []string
	if opts.dockerGiven {
		var err error
		if allow, err = parseAllowances(opts.docker); err != nil {
			return usageError("%v", err)
		}
	}
	client := opts.client(c)
	path := "/v1/projects/" + url.PathEscape(name)
	// What a flag does not name stays as it is: read it first.
	var p api.Project
	if err := client.Do(ctx, http.MethodGet, path, nil, nil, &p); err != nil {
		return clientError(err)
	}
	// --docker replaces the list: say what it took away, since a hint
	// such as the guard's "jetway projects set P --docker RULE" names
	// only the rule it needs.
	var dropped []string
	if opts.dockerGiven {
		for _, a := range p.Docker.Allow {
			if !slices.Contains(allow, a) {
				dropped = append(dropped, a)
			}
		}
		p.Docker.Allow = allow
	}
	if opts.exposeGiven {
		p.Docker.ExposeCredentials = opts.exposeCreds
	}
	var stored api.Project
	if err := client.Do(ctx, http.MethodPut, path, nil, api.Project{Name: name, Docker: p.Docker}, &stored); err != nil {
		return clientError(fmt.Errorf("setting project %s: %w", name, err))
	}
	if opts.json {
		return printJSON(c.Out, stored)
	}
	printProject(c.Out, stored)
	if len(dropped) > 0 {
		fmt.Fprintf(c.Out, "no longer allowed: %s (--docker replaces the list; name every allowance to keep)\n", strings.Join(dropped, ", "))
	}
	fmt.Fprintln(c.Out, "runs that start from now on get these settings; running runs keep theirs")
	return nil
}

func newProjectsResetCommand(c *CLI) *cobra.Command {
	var opts clientFlags
	cmd := &cobra.Command{
		Use:   "reset NAME",
		Short: "Put a project back on the Docker guard's strict default",
		Long: `Remove project NAME's settings: its runs get the Docker guard's strict
default again, from the next run that starts; running runs keep what they
were given. Resetting a project without settings changes nothing.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := projectName(name); err != nil {
				return err
			}
			if err := opts.client(c).Do(cmd.Context(), http.MethodDelete, "/v1/projects/"+url.PathEscape(name), nil, nil, nil); err != nil {
				return clientError(fmt.Errorf("resetting project %s: %w", name, err))
			}
			fmt.Fprintf(c.Out, "project %s: back to the strict default for runs that start from now on\n", name)
			return nil
		},
	}
	opts.bind(cmd.Flags())
	return cmd
}
