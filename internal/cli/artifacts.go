package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
)

func newRunsArtifactsCommand(c *CLI) *cobra.Command {
	var opts struct {
		clientFlags
		dir string
	}
	cmd := &cobra.Command{
		Use:   "artifacts ID [-o DIR]",
		Short: "Download the files a run kept (artifacts: in jetway.yaml)",
		Long: `Download the artifacts of run ID into DIR (default ./artifacts-ID), at
their paths in the workspace: coverage/index.html goes to
DIR/coverage/index.html. Every file is checked against its size and
SHA-256 before it takes its name; a file of that name in DIR is replaced.
Nothing is written outside DIR: a name that would leave it is refused, and
links already in DIR are not followed.`,
		Example: `  jetway runs artifacts 3f2a9c1d
  jetway runs artifacts 3f2a9c1d -o /tmp/reports`,
		Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := opts.dir
			if dir == "" {
				dir = "artifacts-" + args[0]
			}
			return downloadArtifacts(cmd.Context(), c, opts.client(c), args[0], dir)
		},
	}
	opts.clientFlags.bind(cmd.Flags())
	cmd.Flags().StringVarP(&opts.dir, "output", "o", "", "directory to write the artifacts into (made if missing)")
	return cmd
}

func downloadArtifacts(ctx context.Context, c *CLI, client *apiclient.Client, id, dir string) error {
	var list []api.Artifact
	if err := client.Do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id)+"/artifacts", nil, nil, &list); err != nil {
		return clientError(err)
	}
	if len(list) == 0 {
		fmt.Fprintf(c.Err, "jetway: run %s kept no artifacts\n", id)
		return nil
	}
	// Every name is checked before anything is written.
	for _, a := range list {
		if err := api.CheckArtifactName(a.Name); err != nil {
			return withExit(ExitFailed, fmt.Errorf("refused: the server names an artifact that would not stay beneath %s: %w", dir, err))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return withExit(ExitFailed, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return withExit(ExitFailed, err)
	}
	defer root.Close()
	var total int64
	for _, a := range list {
		if err := downloadArtifact(ctx, client, root, id, a); err != nil {
			return err
		}
		total += a.Size
		fmt.Fprintf(c.Out, "%10s  %s\n", api.HumanBytes(a.Size), listName(a.Name))
	}
	fmt.Fprintf(c.Err, "jetway: %d files, %s, in %s\n", len(list), api.HumanBytes(total), dir)
	return nil
}

// downloadArtifact writes one artifact beneath root: into NAME.part,
// checked against its size and hash, then renamed to NAME. Through the
// root nothing lands outside the directory, and O_NOFOLLOW writes through
// no link planted at NAME.part.
func downloadArtifact(ctx context.Context, client *apiclient.Client, root *os.Root, id string, a api.Artifact) error {
	if dir := path.Dir(a.Name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return withExit(ExitFailed, fmt.Errorf("%s: %w", a.Name, err))
		}
	}
	resp, err := client.Stream(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id)+"/artifacts/"+(&url.URL{Path: a.Name}).EscapedPath(), nil, nil, nil)
	if err != nil {
		return clientError(err)
	}
	defer resp.Body.Close()
	part := a.Name + ".part"
	f, err := root.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|oNoFollow, 0o644)
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("%s: %w", a.Name, err))
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(resp.Body, a.Size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && (n != a.Size || hex.EncodeToString(sum.Sum(nil)) != a.SHA256) {
		err = errors.New("the download does not match the artifact's size and SHA-256; try again")
	}
	if err != nil {
		_ = root.Remove(part)
		return withExit(ExitFailed, fmt.Errorf("%s: %w", a.Name, err))
	}
	if err := root.Rename(part, a.Name); err != nil {
		return withExit(ExitFailed, fmt.Errorf("%s: %w", a.Name, err))
	}
	return nil
}
