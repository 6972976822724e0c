package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/sqldb"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

func newServerMigrateCommand(c *CLI) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate --from DATA_DIR --to postgres://…",
		Short: "Move a server's data dir into a PostgreSQL database",
		Long: `Copy everything a server keeps in its data dir's SQLite databases into an empty
PostgreSQL database: runs with their logs, agents and their tokens, bundles
and the blobs they name, and parameters and secrets, still sealed with the
data dir's master key (the database alone reveals no value).

Stop the server first. Afterwards, start each server with --database URL and
a data dir holding the old one's token and master.key (this data dir, or
copies of those two files). The data dir is left as it was, but for its
database's schema, which is brought up to this jetway's first. A move that
was stopped part way is run again and resumes; servers refuse the
database until it has finished.`,
		Example: `  jetway server migrate --from /var/lib/jetway --to postgres://jetway:PASSWORD@db:5432/jetway
  jetway server --data /var/lib/jetway --database postgres://jetway:PASSWORD@db:5432/jetway`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usageError("give both --from DATA_DIR and --to postgres://…")
			}
			if !sqldb.IsPostgresURL(to) {
				return usageError("--to %s: give a PostgreSQL URL, postgres://user:password@host:5432/db", sqldb.Redact(to))
			}
			return migrateDataDir(cmd.Context(), c, from, to)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the data dir to copy")
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL database to copy into (must hold no runs)")
	return cmd
}

func migrateDataDir(ctx context.Context, c *CLI, from, to string) error {
	if _, err := os.Stat(filepath.Join(from, "jetway.db")); err != nil {
		return withExit(ExitFailed, fmt.Errorf("--from %s: no jetway.db there; give the data dir of a jetway server", from))
	}
	// The server must be stopped: what it wrote after the copy read a
	// table would be lost.
	lock, err := server.LockDataDir(from)
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("%w (stop it before moving its data dir)", err))
	}
	defer lock.Close()
	src, err := storepkg.Open(ctx, from)
	if err != nil {
		return withExit(ExitFailed, err)
	}
	defer src.Close()
	db, err := sqldb.OpenPostgres(ctx, to)
	if err != nil {
		return withExit(ExitFailed, err)
	}
	dst, err := storepkg.New(ctx, db)
	if err != nil {
		db.Close()
		return withExit(ExitFailed, err)
	}
	defer dst.Close()
	// A move stopped part way (a lost session, a kill) is run again and
	// resumes; servers refuse the database until it has finished.
	state, marked, err := dst.LookupSetting(ctx, server.MigrationSetting)
	if err != nil {
		return withExit(ExitFailed, err)
	}
	if marked && state == server.MigrationDone {
		return withExit(ExitFailed, fmt.Errorf("%s: a move into this database has finished already; its servers serve it (move into an empty database to move again)", sqldb.Redact(to)))
	}
	resume := marked
	if !resume {
		// Only an empty database is marked: a refused move must leave a
		// served one as it was.
		if n, err := dst.RunCount(ctx); err != nil {
			return withExit(ExitFailed, err)
		} else if n > 0 {
			return withExit(ExitFailed, fmt.Errorf("%s holds %d runs already: move into an empty database", sqldb.Redact(to), n))
		}
		if err := dst.SetSetting(ctx, server.MigrationSetting, server.MigrationInProgress); err != nil {
			return withExit(ExitFailed, err)
		}
	} else {
		fmt.Fprintln(c.Err, "resuming a move into this database that did not finish")
	}
	counts, err := src.CopyTo(ctx, dst, resume)
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("copying runs, logs and agents: %w", err))
	}
	blobs, err := copyBlobDir(ctx, filepath.Join(from, "blobs"), dst)
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("copying blobs: %w", err))
	}
	params, err := copyParams(ctx, from, dst.DB())
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("copying parameters: %w", err))
	}
	// The data dir's API token stays valid: it becomes the one all
	// servers of the database share.
	if token, err := os.ReadFile(filepath.Join(from, "token")); err == nil {
		if err := server.AdoptToken(ctx, dst, strings.TrimSpace(string(token))); err != nil {
			return withExit(ExitFailed, err)
		}
	}
	if err := dst.SetSetting(ctx, server.MigrationSetting, server.MigrationDone); err != nil {
		return withExit(ExitFailed, err)
	}
	fmt.Fprintf(c.Out, "copied %d runs, %d log chunks, %d agents, %d bundles, %d project settings, %d Docker hosts, %d blobs and %s into %s\n",
		counts["runs"], counts["log_chunks"], counts["agents"], counts["bundles"], counts["projects"], counts["docker_hosts"], blobs, params, sqldb.Redact(to))
	fmt.Fprintf(c.Out, "start the servers with: jetway server --data %s --database '%s'\n", from, sqldb.Redact(to))
	return nil
}

// copyBlobDir stores every blob of a data dir's blobs/ in the database.
func copyBlobDir(ctx context.Context, dir string, dst *storepkg.Store) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == dir {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || len(d.Name()) != 64 || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := dst.PutBlob(ctx, d.Name(), f); err != nil {
			return fmt.Errorf("%s: %w", d.Name(), err)
		}
		n++
		return nil
	})
	return n, err
}

func newServerBackupCommand(c *CLI) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "backup DIR",
		Short: "Copy a server's data dir, consistently, while it runs",
		Long: `Make a consistent copy of a data dir in DIR (new, or empty), without stopping
the server: each SQLite database is copied with VACUUM INTO (a snapshot of
one moment), then the blobs, token, master key and AWS credential files.
Restore it with jetway server restore DIR --data NEWDIR, which checks the
copy whole (databases, master key, blobs) before it puts it in place;
practise that now and then. The copy holds the master key: keep it as safe
as the data dir.

With --database, a server's data lives in PostgreSQL: back that up with
PostgreSQL's tools (pg_dump -Fc), and keep the master.key and token apart
from it (jetway server restore --help says how to restore both).`,
		Example: `  jetway server backup /backup/jetway-$(date +%F)`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir == "" {
				dataDir = c.DefaultDataDir()
			}
			return backupDataDir(cmd.Context(), c, dataDir, args[0])
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "the data dir to copy (default ~/.local/share/jetway)")
	return cmd
}

func backupDataDir(ctx context.Context, c *CLI, dataDir, dir string) error {
	if _, err := os.Stat(filepath.Join(dataDir, "jetway.db")); err != nil {
		return withExit(ExitFailed, fmt.Errorf("%s: no jetway.db there; give the data dir of a jetway server with --data", dataDir))
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return withExit(ExitFailed, fmt.Errorf("%s is not empty; back up into a new directory", dir))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return withExit(ExitFailed, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return withExit(ExitFailed, err)
	}
	for _, name := range []string{"jetway.db", "params.db"} {
		if _, err := os.Stat(filepath.Join(dataDir, name)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := vacuumInto(ctx, filepath.Join(dataDir, name), filepath.Join(dir, name)); err != nil {
			return withExit(ExitFailed, fmt.Errorf("copying %s: %w", name, err))
		}
	}
	// Blobs only come and go whole (written aside, then renamed), so a
	// walk copies each whole; one removed meanwhile was unreferenced.
	blobs := 0
	err := filepath.WalkDir(filepath.Join(dataDir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, _ := filepath.Rel(dataDir, path)
		if err := copyFile(path, filepath.Join(dir, rel), nil, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		blobs++
		return nil
	})
	if err != nil {
		return withExit(ExitFailed, fmt.Errorf("copying blobs: %w", err))
	}
	var files []string
	for _, name := range []string{"token", "master.key", "credentials", "config"} {
		if err := copyFile(filepath.Join(dataDir, name), filepath.Join(dir, name), nil, false); err == nil {
			files = append(files, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return withExit(ExitFailed, err)
		}
	}
	sort.Strings(files)
	fmt.Fprintf(c.Out, "backed up %s to %s: the databases, %d blobs, %s\n", dataDir, dir, blobs, strings.Join(files, ", "))
	return nil
}

// vacuumInto writes a consistent copy of a live SQLite database.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sqldb.OpenSQLite(ctx, src)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `VACUUM INTO ?`, dst)
	if err != nil {
		return err
	}
	return os.Chmod(dst, 0o600)
}

// copyParams copies the data dir's parameters and secrets into the
// database, still sealed with the data dir's master key.
func copyParams(ctx context.Context, dataDir string, db *sqldb.DB) (string, error) {
	if _, err := os.Stat(filepath.Join(dataDir, "params.db")); errors.Is(err, fs.ErrNotExist) {
		return "no parameters", nil
	}
	src, err := params.OpenStore(ctx, dataDir)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := params.NewStore(ctx, db, filepath.Join(dataDir, "master.key"))
	if err != nil {
		return "", err
	}
	defer dst.Close()
	stats, err := params.CopyStore(ctx, src, dst)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d parameter versions and %d secrets (%d versions), still sealed", stats.ParameterVersions, stats.Secrets, stats.SecretVersions), nil
}
