package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/config"
)

type deployOptions struct {
	clientFlags
	env    string
	file   string
	detach bool
	raw    bool
	dryRun bool
	vars   []string
}

func newDeployCommand(c *CLI) *cobra.Command {
	var opts deployOptions
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Ship the source to the server and run it on a fresh runner, following the log",
		Long: `Package the project in DIR (default: the current directory) — its files
without what .gitignore (every one in the tree, with git's rules) and
.git/info/exclude leave out, then .jetwayignore on top (its !pattern lines
re-include what .gitignore left out, e.g. a generated config/env), never
.git; and its git branch, commit and dirty state —
upload only the file contents the server does not have yet, start a run with
the project file (references only: never a secret value), and follow its
masked log to the end.

-e NAME=VALUE adds a run variable for this run only, or overrides one of
env.vars; VALUE may be a reference (SSM:/path, SECRET:name), resolved on
the runner. Plain values are stored with the run and shown by 'jetway runs
show' (those of secret-looking names as [MASKED], and masked in the log);
give secrets as references. Names env.block blocks, JETWAY_*,
SSH_AUTH_SOCK, DOCKER_CONFIG and GIT_ASKPASS are refused, and AWS_*,
*_TOKEN, *_SECRET* and *_PASSWORD* take references only.

Ctrl-C detaches: the run goes on; reattach with 'jetway logs -f ID', stop it
with 'jetway stop ID'.

Exit status: 0 succeeded, 1 failed, 2 usage or configuration error,
3 server unreachable, 124 timed out, 130 cancelled or detached.`,
		Example: `  jetway deploy
  jetway deploy examples/hello --ssm-env prod
  jetway deploy --detach
  jetway deploy --dry-run         # what would be uploaded, largest first
  jetway deploy -e LOG_LEVEL=debug -e DATABASE_URL=SSM:/staging/DATABASE_URL`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runDeploy(cmd.Context(), c, opts, dir)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&opts.env, ssmEnvFlag, "", "the environment #{ssm_env} expands to (default: ssm_env of jetway.yaml)")
	refuseOldEnvFlag(cmd.Flags())
	cmd.Flags().StringVarP(&opts.file, "file", "f", "", "project file (default DIR/jetway.yaml)")
	cmd.Flags().BoolVarP(&opts.detach, "detach", "d", false, "start the run and return without following it")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "list the files that would be uploaded, largest first, with their sizes and the total, and upload nothing")
	cmd.Flags().BoolVar(&opts.raw, "raw", false, "print the log's bytes as they are (by default, of the terminal control sequences only colours are kept)")
	cmd.Flags().StringArrayVarP(&opts.vars, "var", "e", nil, "NAME=VALUE: a run variable for this run only (VALUE may be SSM:/path or SECRET:name); repeatable")
	return cmd
}

// parseRunVars reads -e NAME=VALUE arguments; a name given twice is an
// error, not a silent override.
func parseRunVars(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	vars := map[string]string{}
	for _, arg := range args {
		name, value, err := config.ParseRunVar(arg)
		if err != nil {
			return nil, err
		}
		if _, dup := vars[name]; dup {
			return nil, fmt.Errorf("-e %s: given twice; give each variable once", name)
		}
		vars[name] = value
	}
	return vars, nil
}

func runDeploy(ctx context.Context, c *CLI, opts deployOptions, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return usageError("%v", err)
	}
	file := opts.file
	if file == "" {
		file = filepath.Join(abs, config.FileName)
	}
	content, err := os.ReadFile(file)
	if err != nil {
		return usageError("%s: %v; create one with `jetway init`", file, err)
	}
	vars, err := parseRunVars(opts.vars)
	if err != nil {
		return withExit(ExitUsage, err)
	}
	project, err := config.ParseWithVars(file, content, vars)
	if err != nil {
		return withExit(ExitUsage, err)
	}
	if _, err := project.References(project.Env(opts.env)); err != nil {
		return withExit(ExitUsage, err)
	}
	manifest, paths, err := bundle.Scan(abs)
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("packaging %s: %w", dir, err))
	}
	if opts.dryRun {
		return printDryRun(c.Out, manifest)
	}
	client := opts.client(c)
	git, _ := bundle.GitInfo(ctx, abs)
	sent, _, err := upload(ctx, c, client, manifest, paths)
	if err != nil {
		return clientError(err)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := client.Do(ctx, http.MethodPost, "/v1/bundles", nil, manifest, &created); err != nil {
		return clientError(err)
	}
	// Only what the runner would pass leaves this machine: env.block and
	// the built-in block list (JETWAY_TOKEN, AWS_*, …) apply here too.
	pass, _ := project.PassEnv(os.Environ())
	var run api.Run
	err = client.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{
		ProjectFile: string(content), Env: opts.env, Bundle: created.ID, Git: git, Pass: pass, StartedBy: startedBy(c), Vars: vars,
	}, &run)
	if err != nil {
		return clientError(err)
	}
	// Counted as --dry-run lists them: files and links, not directories.
	files, size := bundleFiles(manifest)
	fmt.Fprintf(c.Err, "jetway: run %s queued (project %s, %d files of %s; uploaded %d bytes)\n", run.ID, run.Project, len(files), api.HumanBytes(size), sent)
	return followRun(ctx, c, client, run, opts.detach, opts.raw)
}

// followRun follows a queued run's log to its end (or, detached, prints
// its id), and fails with the run's exit status.
func followRun(ctx context.Context, c *CLI, client *apiclient.Client, run api.Run, detach, raw bool) error {
	if detach {
		fmt.Fprintf(c.Out, "%s\n", run.ID)
		fmt.Fprintf(c.Err, "follow it with: jetway logs -f %s\n", run.ID)
		return nil
	}
	out := logOutput(c.Out, raw)
	waitCtx, stopWaiting := context.WithCancel(ctx)
	go reportQueued(waitCtx, c, client, run.ID)
	end, err := client.Follow(ctx, run.ID, out)
	stopWaiting()
	_ = out.Flush()
	if err != nil {
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			fmt.Fprintf(c.Err, "\njetway: detached; run %s goes on.\n  follow it: jetway logs -f %s\n  stop it:   jetway stop %s\n", run.ID, run.ID, run.ID)
			return &exitError{code: ExitCancelled, err: fmt.Errorf("detached from run %s", run.ID)}
		}
		return clientError(err)
	}
	if end.Status != api.StatusSucceeded {
		code := api.ExitCode(end.Status)
		var final api.Run
		if client.Do(context.WithoutCancel(ctx), http.MethodGet, "/v1/runs/"+run.ID, nil, nil, &final) == nil && final.Summary != nil && final.Summary.ExitCode != 0 {
			code = final.Summary.ExitCode
		}
		msg := fmt.Sprintf("run %s %s", run.ID, end.Status)
		if end.Reason != "" {
			msg += ": " + api.TermSafe(end.Reason)
		}
		return &exitError{code: code, err: errors.New(msg)}
	}
	return nil
}

// bundleFiles are the files (and links) of a bundle, its directories left
// out, and their total size: what deploy counts and --dry-run lists.
func bundleFiles(m api.Manifest) ([]api.File, int64) {
	var files []api.File
	var total int64
	for _, f := range m.Files {
		if f.Mode&0o40000 == 0 {
			files = append(files, f)
			total += f.Size
		}
	}
	return files, total
}

// printDryRun lists the files (and links) of a bundle, largest first, then
// the count and the total.
func printDryRun(w io.Writer, m api.Manifest) error {
	files, total := bundleFiles(m)
	slices.SortStableFunc(files, func(a, b api.File) int { return cmp.Compare(b.Size, a.Size) })
	for _, f := range files {
		line := fmt.Sprintf("%10s  %s", api.HumanBytes(f.Size), listName(f.Path))
		if f.Link != "" {
			line += " -> " + listName(f.Link)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d files, %s; nothing uploaded (--dry-run)\n", len(files), api.HumanBytes(total))
	return err
}

// listName is a file name for a listing: quoted when it holds a control
// character (a newline in a name must not start a line of its own).
func listName(name string) string {
	if strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return strconv.Quote(name)
	}
	return name
}

// upload sends the contents the server lacks, zstd-compressed, and returns
// the bytes sent and the bundle's total size.
func upload(ctx context.Context, c *CLI, client *apiclient.Client, m api.Manifest, paths map[string]string) (sent, total int64, err error) {
	sizes := map[string]int64{}
	for _, f := range m.Files {
		if f.SHA256 != "" {
			sizes[f.SHA256] = f.Size
			total += f.Size
		}
	}
	var missing api.MissingResponse
	if err := client.Do(ctx, http.MethodPost, "/v1/bundles/missing", nil, api.MissingRequest{Hashes: bundle.Hashes(m)}, &missing); err != nil {
		return 0, total, err
	}
	var need int64
	for _, h := range missing.Missing {
		need += sizes[h]
	}
	var bar *progressbar.ProgressBar
	if f, ok := c.Err.(*os.File); ok && isTerminal(f) && need > 0 {
		bar = progressbar.DefaultBytes(need, "uploading")
	}
	for _, h := range missing.Missing {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(bundle.Compress(pw, paths[h])) }()
		counter := &countWriter{}
		body := io.TeeReader(pr, counter)
		// The size bounds the server's decompression (a zstd bomb stops there).
		size := url.Values{"size": {strconv.FormatInt(sizes[h], 10)}}
		resp, err := client.Stream(ctx, http.MethodPut, "/v1/blobs/"+url.PathEscape(h), size, body, http.Header{"Content-Type": {"application/zstd"}})
		pr.Close()
		if err != nil {
			return sent, total, err
		}
		resp.Body.Close()
		sent += counter.n
		if bar != nil {
			_ = bar.Add64(sizes[h])
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return sent, total, nil
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func startedBy(c *CLI) string {
	name := c.UserName()
	host, _ := os.Hostname()
	if u, err := user.Current(); err == nil && name == "" {
		name = u.Username
	}
	return name + "@" + host
}

// reportQueued says, while the run waits in the queue, why it waits (no
// agent with its runs_on labels, say), and which agent took it.
func reportQueued(ctx context.Context, c *CLI, client *apiclient.Client, id string) {
	said := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var r api.Run
		if client.Do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id), nil, nil, &r) == nil {
			switch {
			case r.Status != api.StatusQueued:
				if r.Agent != "" && r.Agent != "local" {
					fmt.Fprintf(c.Err, "jetway: run %s runs on agent %s\n", id, api.TermSafe(r.Agent))
				}
				return
			case r.Reason != "" && r.Reason != said:
				fmt.Fprintf(c.Err, "jetway: run %s is %s\n", id, api.TermSafe(r.Reason))
				said = r.Reason
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
