package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jetway-dev/jetway/internal/api"
)

const hostsHelp = `The Docker hosts the server knows, in pools: warm hosts whose layer cache
projects reuse from one deploy to the next. A project builds on a pool when
its jetway.yaml says

  docker_host: {pool: builders}

instead of env.vars.DOCKER_HOST (a project that names its DOCKER_HOST keeps
working as before). The runner gets the chosen host's DOCKER_HOST, key and
known_hosts (or TLS files), and holds them itself: phases reach the host
only through the runner's guard.

Affinity. For each project the server ranks the pool's hosts by
rendezvous hashing of the project and its Dockerfile (not of a checkout
path, which differs between machines), weighted by free disk. The first
is the project's home: it builds there, on a warm cache, while the home is
up and has room. Adding or removing a host moves only the projects that
host wins or loses.

Failover and spill. When a run starts, the server hands its runner the
pool's hosts in the project's order, passing over those that are down,
draining (jetway hosts drain), full (under --gc-min-free) or at
--max-builds; the runner builds on the first it reaches. The run's log,
jetway runs show and the dashboard say which host it got and why, e.g.
"b2 (b1: down: connection refused)". When the home is back, the project
goes back to it.

Health. The server checks every host every 15 s (jetway server
--host-check-interval): ping, version, images and build-cache bytes, and
the free disk of the data root over ssh. jetway hosts ls shows what it
found.

Credentials are references into the parameter store (SSM:/…, SECRET:…),
never values: put the private key and the known_hosts lines there first
(jetway params put), then name them here. Runners read them with their
run's credentials, which cover the hosts their run was handed; the server
reads them for its checks and keeps them in memory only.

GC, as admission control. Before a build, when the host would go past
--gc-max-used (the images jetway built plus build cache) or under
--gc-min-free, the runner prunes first; after its run it prunes to the
policy again; jetway hosts gc runs it by hand. It removes build cache,
least recently used first (never what a running build uses), and the
images jetway's runs built beyond each project's newest --gc-keep-images
(default 3). It never removes an image jetway did not build (base images,
other users' images), nor anything a container uses.

These commands take the API token; a run's or an agent's token is refused.`

func newHostsCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "The Docker hosts the server knows: pools, health, drain and GC",
		Long:  hostsHelp,
		Example: `  jetway params put /hosts/b1/key --type SecureString --value-file ~/.ssh/builder_ed25519
  ssh-keyscan -H b1.internal | jetway params put /hosts/known_hosts --value-file -
  jetway hosts add b1 --url ssh://builder@b1.internal --pool builders \
      --ssh-key SSM:/hosts/b1/key --known-hosts SSM:/hosts/known_hosts --gc-max-used 50GB --gc-min-free 10%
  jetway hosts ls
  jetway hosts drain b1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newHostsAddCommand(c), newHostsLsCommand(c), newHostsShowCommand(c), newHostsSetCommand(c), newHostsRmCommand(c),
		newHostsDrainCommand(c), newHostsGCCommand(c))
	return cmd
}

var hostNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// hostName checks NAME before it goes to the server, with its words.
func hostName(name string) error {
	if !hostNameRE.MatchString(name) {
		return usageError("host name %q: use lower-case letters, digits and - only (at most 63), e.g. b1 or builder-2", name)
	}
	return nil
}

func hostPath(name string, rest ...string) string {
	return "/v1/hosts/" + url.PathEscape(name) + strings.Join(rest, "")
}

// hostSettings are the settings add and set take; set applies only
// those given (changed), add all.
type hostSettings struct {
	url, pool              string
	sshKey, knownHosts     string
	tlsCA, tlsCert, tlsKey string
	maxBuilds              int
	gcMaxUsed, gcMinFree   string
	gcKeepImages           int
	projects               []string
	changed                func(name string) bool
}

func (f *hostSettings) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "the host's DOCKER_HOST: ssh://USER@HOST[:PORT][/SOCKET] or tcp://HOST:2376 (with the TLS flags)")
	fs.StringVar(&f.pool, "pool", "", "the pool the host serves (docker_host: {pool: NAME} in jetway.yaml)")
	fs.StringVar(&f.sshKey, "ssh-key", "", "reference to the private key for ssh:// (SSM:/hosts/b1/key)")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "reference to the host's known_hosts lines for ssh:// (ssh-keyscan -H HOST)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "reference to the CA certificate for tcp:// with TLS")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "reference to the client certificate for tcp:// with TLS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "reference to the client key for tcp:// with TLS")
	fs.IntVar(&f.maxBuilds, "max-builds", 0, "runs building on the host at once; more spill to the next host (0: no bound)")
	fs.StringVar(&f.gcMaxUsed, "gc-max-used", "", "cap of the images jetway built plus build cache, e.g. 50GB or 40GiB (0: no cap)")
	fs.StringVar(&f.gcMinFree, "gc-min-free", "", "free disk to keep on the data root, a size (20GB) or a share of the disk (10%); under it GC prunes all unused build cache and the host takes no build (0: none)")
	fs.IntVar(&f.gcKeepImages, "gc-keep-images", 0, fmt.Sprintf("images jetway built to keep per project, the newest (0: the default, %d)", api.DefaultKeepImages))
	fs.StringSliceVar(&f.projects, "projects", nil, "globs of the projects whose runs may build on the host, e.g. 'shop-*' (default: all; '' for all again)")
}

// parseSize reads a size: bytes, or with a unit, decimal (300MB, 50GB) or
// binary (300MiB, 40GiB).
func parseSize(flag, s string) (int64, error) {
	s = strings.TrimSpace(s)
	parse := units.FromHumanSize
	if strings.ContainsAny(s, "iI") {
		parse = units.RAMInBytes
	}
	n, err := parse(s)
	if err != nil || n < 0 {
		return 0, usageError("%s %q: give a size such as 300MB, 50GB, 40GiB, or 0", flag, s)
	}
	return n, nil
}

// apply sets on h the settings given (all of them when changed is nil).
func (f *hostSettings) apply(h *api.DockerHost) error {
	given := func(name string) bool { return f.changed == nil || f.changed(name) }
	for _, s := range []struct {
		flag string
		dst  *string
		val  string
	}{
		{"url", &h.URL, f.url}, {"pool", &h.Pool, f.pool}, {"ssh-key", &h.SSHKey, f.sshKey}, {"known-hosts", &h.KnownHosts, f.knownHosts},
		{"tls-ca", &h.TLSCA, f.tlsCA}, {"tls-cert", &h.TLSCert, f.tlsCert}, {"tls-key", &h.TLSKey, f.tlsKey},
	} {
		if given(s.flag) {
			*s.dst = strings.TrimSpace(s.val)
		}
	}
	if given("projects") {
		h.Projects = nil
		for _, g := range f.projects {
			if g = strings.TrimSpace(g); g != "" {
				h.Projects = append(h.Projects, g)
			}
		}
	}
	if given("max-builds") {
		if f.maxBuilds < 0 {
			return usageError("--max-builds %d: give 0 (no bound) or more", f.maxBuilds)
		}
		h.MaxBuilds = f.maxBuilds
	}
	if given("gc-keep-images") {
		if f.gcKeepImages < 0 {
			return usageError("--gc-keep-images %d: give 0 (the default, %d) or more", f.gcKeepImages, api.DefaultKeepImages)
		}
		h.GC.KeepImages = f.gcKeepImages
	}
	if given("gc-max-used") && f.gcMaxUsed != "" {
		n, err := parseSize("--gc-max-used", f.gcMaxUsed)
		if err != nil {
			return err
		}
		h.GC.MaxUsed = n
	}
	if given("gc-min-free") && f.gcMinFree != "" {
		// One or the other: a new minimum replaces the old, whatever its kind.
		h.GC.MinFree, h.GC.MinFreePercent = 0, 0
		if pct, ok := strings.CutSuffix(strings.TrimSpace(f.gcMinFree), "%"); ok {
			p, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
			if err != nil || p < 0 || p >= 100 {
				return usageError("--gc-min-free %q: give a percentage from 0 to under 100, e.g. 10%%", f.gcMinFree)
			}
			h.GC.MinFreePercent = p
		} else {
			n, err := parseSize("--gc-min-free", f.gcMinFree)
			if err != nil {
				return err
			}
			h.GC.MinFree = n
		}
	}
	return nil
}

type hostsAddOptions struct {
	clientFlags
	settings hostSettings
	json     bool
}

func newHostsAddCommand(c *CLI) *cobra.Command {
	var opts hostsAddOptions
	cmd := &cobra.Command{
		Use:   "add NAME --url URL --pool POOL [flags]",
		Short: "Add a Docker host to a pool",
		Long: `Add Docker host NAME to a pool. Its credentials are references into the
parameter store, never values: an ssh:// host needs --ssh-key and
--known-hosts, a tcp:// host with TLS all of --tls-ca, --tls-cert and
--tls-key. The server checks the host at once, then every 15 s.

GC keeps the host within --gc-max-used and --gc-min-free, and keeps each
project's newest --gc-keep-images images; it never removes an image jetway
did not build nor anything a container uses (jetway hosts --help).`,
		Example: `  jetway hosts add b1 --url ssh://builder@b1.internal --pool builders \
      --ssh-key SSM:/hosts/b1/key --known-hosts SSM:/hosts/known_hosts \
      --max-builds 4 --gc-max-used 50GB --gc-min-free 10% --gc-keep-images 3
  jetway hosts add t1 --url tcp://t1.internal:2376 --pool builders \
      --tls-ca SSM:/hosts/ca.pem --tls-cert SSM:/hosts/cert.pem --tls-key SECRET:hosts-tls:key`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHostsAdd(cmd.Context(), c, opts, args[0])
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	opts.settings.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the host as JSON")
	return cmd
}

func runHostsAdd(ctx context.Context, c *CLI, opts hostsAddOptions, name string) error {
	if err := hostName(name); err != nil {
		return err
	}
	if opts.settings.url == "" || opts.settings.pool == "" {
		return usageError("give --url and --pool; jetway hosts add --help has examples")
	}
	h := api.DockerHost{Name: name}
	if err := opts.settings.apply(&h); err != nil {
		return err
	}
	var stored api.DockerHost
	if err := opts.client(c).Do(ctx, http.MethodPost, "/v1/hosts", nil, h, &stored); err != nil {
		return clientError(fmt.Errorf("adding host %s: %w", name, err))
	}
	if opts.json {
		return printJSON(c.Out, stored)
	}
	printHost(c.Out, stored, time.Now())
	fmt.Fprintf(c.Out, "the server checks it now; jetway hosts ls shows what it finds\n")
	return nil
}

type hostsLsOptions struct {
	clientFlags
	pool string
	json bool
}

func newHostsLsCommand(c *CLI) *cobra.Command {
	var opts hostsLsOptions
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the Docker hosts with their health, disk, builds, home projects and last GC",
		Long: `List the Docker hosts the server knows: pool, URL, up or down since when
(as of the server's last check), free disk of the data root, images and
build-cache bytes, runs building there now (of --max-builds), the projects
whose home it is, and the last GC with what it freed. Hosts found down are
listed again below the table with the reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list []api.DockerHost
			var q url.Values
			if opts.pool != "" {
				q = url.Values{"pool": {opts.pool}}
			}
			if err := opts.client(c).Do(cmd.Context(), http.MethodGet, "/v1/hosts", q, nil, &list); err != nil {
				return clientError(err)
			}
			if opts.json {
				if list == nil {
					list = []api.DockerHost{}
				}
				return printJSON(c.Out, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(c.Out, "no Docker hosts; add one with jetway hosts add (jetway hosts --help)")
				return nil
			}
			return printHosts(c.Out, list, time.Now())
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.pool, "pool", "", "only this pool's hosts")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

// hostState renders a host's health for ls: "up 3m", "down 10s",
// "draining, up 2h", "not checked yet".
func hostState(h api.DockerHost, now time.Time) string {
	st := "not checked yet"
	if s := h.State; s != nil && !s.CheckedAt.IsZero() {
		word := "down"
		if s.Up {
			word = "up"
		}
		st = word + " " + strings.TrimSuffix(ago(now.Sub(s.Since)), " ago")
	}
	if h.Draining {
		st = "draining, " + st
	}
	return st
}

func hostFree(s *api.HostState) string {
	if s == nil || s.DiskBytes <= 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%d%%)", api.HumanBytes(s.FreeBytes), s.FreeBytes*100/s.DiskBytes)
}

func hostBuilds(h api.DockerHost) string {
	n := 0
	if h.State != nil {
		n = h.State.Builds
	}
	if h.MaxBuilds > 0 {
		return fmt.Sprintf("%d/%d", n, h.MaxBuilds)
	}
	return strconv.Itoa(n)
}

// hostHomes names the projects at home on h, a few of them.
func hostHomes(s *api.HostState) string {
	if s == nil || len(s.HomeProjects) == 0 {
		return "-"
	}
	const shown = 3
	if len(s.HomeProjects) <= shown {
		return strings.Join(s.HomeProjects, ",")
	}
	return fmt.Sprintf("%s +%d", strings.Join(s.HomeProjects[:shown], ","), len(s.HomeProjects)-shown)
}

func hostLastGC(s *api.HostState, now time.Time) string {
	if s == nil || s.LastGC == nil {
		return "-"
	}
	g := s.LastGC
	out := fmt.Sprintf("%s, freed %s", ago(now.Sub(g.At)), api.HumanBytes(g.ImagesFreed+g.BuildCacheFreed))
	if g.Error != "" {
		out += " (with errors)"
	}
	return out
}

// printHosts renders the table of jetway hosts ls as of now.
func printHosts(w io.Writer, list []api.DockerHost, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPOOL\tURL\tSTATE\tFREE\tIMAGES\tBUILD CACHE\tBUILDS\tHOME OF\tLAST GC")
	var down []api.DockerHost
	for _, h := range list {
		images, cache := "-", "-"
		if s := h.State; s != nil && !s.CheckedAt.IsZero() {
			// A host never found up has no sizes yet.
			if s.Up || s.ImagesBytes+s.BuildCacheBytes > 0 {
				images, cache = api.HumanBytes(s.ImagesBytes), api.HumanBytes(s.BuildCacheBytes)
			}
			if !s.Up {
				down = append(down, h)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Pool, api.TermSafe(h.URL), hostState(h, now), hostFree(h.State), images, cache,
			hostBuilds(h), hostHomes(h.State), hostLastGC(h.State, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range down {
		fmt.Fprintf(w, "%s has been down %s: %s\n", h.Name, strings.TrimSuffix(ago(now.Sub(h.State.Since)), " ago"), api.TermSafe(h.State.Error))
	}
	return nil
}

// gcPolicyText renders a host's GC policy.
func gcPolicyText(p api.GCPolicy) string {
	var parts []string
	if p.MaxUsed > 0 {
		parts = append(parts, "images + build cache ≤ "+api.HumanBytes(p.MaxUsed))
	}
	switch {
	case p.MinFreePercent > 0:
		parts = append(parts, fmt.Sprintf("free disk ≥ %g%%", p.MinFreePercent))
	case p.MinFree > 0:
		parts = append(parts, "free disk ≥ "+api.HumanBytes(p.MinFree))
	}
	parts = append(parts, fmt.Sprintf("keep %d images per project", p.Keep()))
	return strings.Join(parts, "; ")
}

// printHost renders one host for add, show and set.
func printHost(w io.Writer, h api.DockerHost, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "host\t%s\n", h.Name)
	fmt.Fprintf(tw, "pool\t%s\n", h.Pool)
	fmt.Fprintf(tw, "projects\t%s\n", first(strings.Join(h.Projects, ","), "all"))
	fmt.Fprintf(tw, "url\t%s\n", api.TermSafe(h.URL))
	for _, ref := range []struct{ label, value string }{
		{"ssh key", h.SSHKey}, {"known hosts", h.KnownHosts}, {"tls ca", h.TLSCA}, {"tls cert", h.TLSCert}, {"tls key", h.TLSKey},
	} {
		if ref.value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", ref.label, ref.value)
		}
	}
	builds := "no bound"
	if h.MaxBuilds > 0 {
		builds = strconv.Itoa(h.MaxBuilds)
	}
	fmt.Fprintf(tw, "max builds\t%s (building now: %d)\n", builds, func() int {
		if h.State == nil {
			return 0
		}
		return h.State.Builds
	}())
	fmt.Fprintf(tw, "gc policy\t%s\n", gcPolicyText(h.GC))
	fmt.Fprintf(tw, "state\t%s\n", hostState(h, now))
	if s := h.State; s != nil && !s.CheckedAt.IsZero() {
		if s.Error != "" {
			fmt.Fprintf(tw, "error\t%s\n", api.TermSafe(s.Error))
		}
		fmt.Fprintf(tw, "checked\t%s\n", ago(now.Sub(s.CheckedAt)))
		fmt.Fprintf(tw, "disk\tfree %s; images %s; build cache %s\n", hostFree(s), api.HumanBytes(s.ImagesBytes), api.HumanBytes(s.BuildCacheBytes))
	}
	fmt.Fprintf(tw, "home of\t%s\n", hostHomes(h.State))
	fmt.Fprintf(tw, "last gc\t%s\n", hostLastGC(h.State, now))
	tw.Flush()
}

type hostsShowOptions struct {
	clientFlags
	json bool
}

func newHostsShowCommand(c *CLI) *cobra.Command {
	var opts hostsShowOptions
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a Docker host: settings, references, health, GC policy and last GC",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := hostName(args[0]); err != nil {
				return err
			}
			var h api.DockerHost
			if err := opts.client(c).Do(cmd.Context(), http.MethodGet, hostPath(args[0]), nil, nil, &h); err != nil {
				return clientError(err)
			}
			if opts.json {
				return printJSON(c.Out, h)
			}
			printHost(c.Out, h, time.Now())
			return nil
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

type hostsSetOptions struct {
	clientFlags
	settings hostSettings
	json     bool
}

func newHostsSetCommand(c *CLI) *cobra.Command {
	var opts hostsSetOptions
	cmd := &cobra.Command{
		Use:   "set NAME [flags]",
		Short: "Change a Docker host's settings; flags not given keep their value",
		Long: `Change Docker host NAME's settings. A flag not given keeps its value; give a
reference flag empty to remove it (--tls-ca '' …), and 0 to lift a bound
(--max-builds 0, --gc-max-used 0). A new URL or new credentials forget the
host's last check: the server checks it again at once. Runs already
given the host keep what they were given.`,
		Example: `  jetway hosts set b1 --max-builds 2
  jetway hosts set b1 --gc-min-free 20GB     # replaces a percentage too
  jetway hosts set b1 --pool cold`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.settings.changed = cmd.Flags().Changed
			return runHostsSet(cmd.Context(), c, opts, args[0])
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	opts.settings.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the host as JSON")
	return cmd
}

func runHostsSet(ctx context.Context, c *CLI, opts hostsSetOptions, name string) error {
	if err := hostName(name); err != nil {
		return err
	}
	anyGiven := false
	cmdFlags := []string{"url", "pool", "ssh-key", "known-hosts", "tls-ca", "tls-cert", "tls-key", "max-builds", "gc-max-used", "gc-min-free", "gc-keep-images", "projects"}
	for _, f := range cmdFlags {
		anyGiven = anyGiven || opts.settings.changed(f)
	}
	if !anyGiven {
		return usageError("give a setting to change (--%s); jetway hosts set --help", strings.Join(cmdFlags, ", --"))
	}
	client := opts.client(c)
	// What a flag does not name stays as it is: read it first.
	var h api.DockerHost
	if err := client.Do(ctx, http.MethodGet, hostPath(name), nil, nil, &h); err != nil {
		return clientError(err)
	}
	if err := opts.settings.apply(&h); err != nil {
		return err
	}
	h.State = nil
	var stored api.DockerHost
	if err := client.Do(ctx, http.MethodPut, hostPath(name), nil, h, &stored); err != nil {
		return clientError(fmt.Errorf("changing host %s: %w", name, err))
	}
	if opts.json {
		return printJSON(c.Out, stored)
	}
	printHost(c.Out, stored, time.Now())
	return nil
}

func newHostsRmCommand(c *CLI) *cobra.Command {
	var opts clientFlags
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Forget a Docker host (its runs go on; drain it first to let them end)",
		Long: `Forget Docker host NAME: no run is given it from now on. Runs given it
already keep it. To take a host out without cutting a build short, drain
it first (jetway hosts drain NAME) and remove it when jetway hosts ls shows
no build on it. Nothing on the host itself is touched.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := hostName(args[0]); err != nil {
				return err
			}
			if err := opts.client(c).Do(cmd.Context(), http.MethodDelete, hostPath(args[0]), nil, nil, nil); err != nil {
				return clientError(fmt.Errorf("removing host %s: %w", args[0], err))
			}
			fmt.Fprintf(c.Out, "host %s removed\n", args[0])
			return nil
		},
	}
	opts.bind(cmd.Flags())
	return cmd
}

func newHostsDrainCommand(c *CLI) *cobra.Command {
	var opts struct {
		clientFlags
		undo bool
	}
	cmd := &cobra.Command{
		Use:   "drain NAME [--undo]",
		Short: "Give a Docker host no new runs; running ones finish (--undo: take runs again)",
		Long: `Drain Docker host NAME: runs that start from now on pass over it (their
projects spill to the next host of their order), runs building there
finish. --undo takes runs again; the projects at home there come back.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := hostName(args[0]); err != nil {
				return err
			}
			path := hostPath(args[0], "/drain")
			if opts.undo {
				path += "?undo=1"
			}
			var h api.DockerHost
			if err := opts.client(c).Do(cmd.Context(), http.MethodPost, path, nil, nil, &h); err != nil {
				return clientError(fmt.Errorf("draining host %s: %w", args[0], err))
			}
			if h.Draining {
				builds := 0
				if h.State != nil {
					builds = h.State.Builds
				}
				fmt.Fprintf(c.Out, "host %s is draining: no new run is given it; %s building there now\n", h.Name, plural(builds, "run", "runs"))
			} else {
				fmt.Fprintf(c.Out, "host %s takes runs again\n", h.Name)
			}
			return nil
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.undo, "undo", false, "take runs again")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func newHostsGCCommand(c *CLI) *cobra.Command {
	var opts struct {
		clientFlags
		dryRun bool
		json   bool
	}
	cmd := &cobra.Command{
		Use:   "gc NAME [--dry-run]",
		Short: "Collect a Docker host to its GC policy now (--dry-run: say what would go)",
		Long: `Collect Docker host NAME to its policy now, from the server: the images
jetway's runs built beyond each project's newest --gc-keep-images, then
build cache, least recently used first, down to what --gc-max-used leaves
(all unused build cache when the disk is under --gc-min-free). It never
removes an image jetway did not build, nor anything a container uses, nor
build cache a running build uses. Runners do the same before their build
and after their run; this is the by-hand way. --dry-run removes nothing
and says what would go.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := hostName(args[0]); err != nil {
				return err
			}
			path := hostPath(args[0], "/gc")
			if opts.dryRun {
				path += "?dry_run=1"
			}
			var r api.GCReport
			if err := opts.client(c).Do(cmd.Context(), http.MethodPost, path, nil, nil, &r); err != nil {
				return clientError(fmt.Errorf("collecting host %s: %w", args[0], err))
			}
			if opts.json {
				if err := printJSON(c.Out, r); err != nil {
					return err
				}
			} else {
				printGCReport(c.Out, args[0], r)
			}
			if r.Error != "" {
				return withExit(ExitFailed, fmt.Errorf("collecting host %s: %s", args[0], r.Error))
			}
			return nil
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "remove nothing; say what would go")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the report as JSON")
	return cmd
}

// printGCReport renders what a GC did (or, dry, would do).
func printGCReport(w io.Writer, host string, r api.GCReport) {
	verb, what := "removed", "freed"
	if r.DryRun {
		verb, what = "would remove", "would free"
	}
	fmt.Fprintf(w, "gc of %s (%s", host, r.Reason)
	if r.DryRun {
		fmt.Fprint(w, ", dry run")
	}
	fmt.Fprintf(w, ") in %s\n", r.Duration.Round(10*time.Millisecond))
	fmt.Fprintf(w, "  images: %s %d, %s %s\n", verb, len(r.Images), what, api.HumanBytes(r.ImagesFreed))
	for _, img := range r.Images {
		fmt.Fprintf(w, "    %s\n", api.TermSafe(img))
	}
	fmt.Fprintf(w, "  build cache: %s %s\n", what, api.HumanBytes(r.BuildCacheFreed))
	fmt.Fprintf(w, "  jetway's images + build cache: %s before, %s after\n", api.HumanBytes(r.UsedBefore), api.HumanBytes(r.UsedAfter))
}
