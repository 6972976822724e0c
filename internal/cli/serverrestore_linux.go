//go:build linux

package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/sqldb"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

// Restore is the counterpart of backupDataDir. The backup is copied into
// a directory beside the target and checked there, whole, as a server
// would open it (databases, schema, master key, blobs); only a copy that
// passes is renamed into place, so a refused restore leaves the target
// as it was and the backup is never written to.

var (
	// errTargetNotEmpty refuses to restore over a data dir without --force.
	errTargetNotEmpty = errors.New("the data dir is not empty")
	// errIncompleteBackup is a backup that lacks a file a server needs.
	errIncompleteBackup = errors.New("incomplete backup")
	// errDamagedBackup is a backup whose files are there but wrong.
	errDamagedBackup = errors.New("damaged backup")
)

// backupFiles are the files jetway server backup copies from the data dir
// of a server that has started once; each must be in a backup. master.key
// may be elsewhere (--master-key-file).
var backupFiles = []string{"jetway.db", "params.db", "token", "credentials", "config"}

type serverRestoreOptions struct {
	dataDir       string
	force         bool
	masterKeyFile string
}

func newServerRestoreCommand(c *CLI) *cobra.Command {
	var opts serverRestoreOptions
	cmd := &cobra.Command{
		Use:   "restore BACKUP_DIR --data DIR",
		Short: "Make a data dir from a backup, checked whole first",
		Long: `Restore a backup made by jetway server backup into the data dir DIR, which
must be empty or absent (--force moves a non-empty one aside, to
DIR.before-restore-TIME; a server using it is refused: stop it first).

Nothing is written to DIR until the backup has passed every check, in a
copy beside DIR: every file a backup holds is there (jetway.db, params.db,
token, master.key, credentials, config); the databases pass SQLite's
integrity check and are at a schema this jetway knows (an older one is
upgraded, as a server would); the master key is the one the secrets were
sealed with, and unseals one of each kind; every blob hashes to its name
and every blob the runs' bundles and artifacts name is there. Then the copy
is renamed to DIR (mode 0700, files 0600). Start the server on it with
--data DIR: runs, logs, artifacts, parameters and secrets, API tokens and
the audit log are as they were at the backup; clients keep their token and
the AWS profile "jetway" its key pair.

Practise it: restore each backup into a scratch dir, start a server there
on another --listen, and look (jetway runs, jetway params get --decrypt).

With --database the data lives in PostgreSQL and the data dir holds only
its keys; back up and restore with PostgreSQL's tools, and keep the keys
(master.key, token) with the dump, apart from the database's own backups:

  pg_dump -Fc -f jetway.dump 'postgres://jetway:PASSWORD@db:5432/jetway'
  cp DATA/master.key DATA/token /backup/      # once: they do not change

  createdb -h db -U jetway jetway_restored    # an empty database
  pg_restore --no-owner -h db -U jetway -d jetway_restored jetway.dump
  install -d -m 0700 /var/lib/jetway
  install -m 0600 /backup/master.key /backup/token /var/lib/jetway/
  jetway server --data /var/lib/jetway --database 'postgres://jetway:PASSWORD@db:5432/jetway_restored'

Without that master.key the dump's secrets are unreadable for good.`,
		Example: `  jetway server backup /backup/jetway-2026-12-06
  jetway server restore /backup/jetway-2026-12-06 --data /var/lib/jetway
  jetway server restore /backup/jetway-2026-12-06 --data /tmp/drill && jetway server --data /tmp/drill --listen 127.0.0.1:7171`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.dataDir == "" {
				opts.dataDir = c.DefaultDataDir()
			}
			return runServerRestore(cmd.Context(), c, opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.dataDir, "data", "", "the data dir to make (empty or absent; default ~/.local/share/jetway)")
	cmd.Flags().BoolVar(&opts.force, "force", false, "restore over a non-empty data dir, moving it aside to DIR.before-restore-TIME")
	cmd.Flags().StringVar(&opts.masterKeyFile, "master-key-file", "", "the master key, for a backup without master.key (a server run with --master-key-file); it is checked, not copied")
	return cmd
}

func runServerRestore(ctx context.Context, c *CLI, opts serverRestoreOptions, backup string) error {
	r, err := restoreDataDir(ctx, backup, opts)
	if err != nil {
		return withExit(ExitFailed, err)
	}
	fmt.Fprintf(c.Out, "restored %s into %s: %d runs, %d blobs, %s\n", backup, r.dataDir, r.runs, r.blobs, r.secrets)
	if r.aside != "" {
		fmt.Fprintf(c.Out, "the data dir that was there is now %s (remove it once the server is back)\n", r.aside)
	}
	start := "jetway server --data " + r.dataDir
	if opts.masterKeyFile != "" {
		start += " --master-key-file " + opts.masterKeyFile
	}
	fmt.Fprintf(c.Out, "start the server with: %s\n", start)
	return nil
}

// restored says what a restore made.
type restored struct {
	dataDir     string
	aside       string // where a non-empty data dir was moved (--force)
	runs, blobs int
	secrets     string // what the master key was checked on
}

// restoreDataDir restores backup into opts.dataDir; see the command's help.
func restoreDataDir(ctx context.Context, backup string, opts serverRestoreOptions) (restored, error) {
	target, err := filepath.Abs(opts.dataDir)
	if err != nil {
		return restored{}, err
	}
	r := restored{dataDir: target}
	keyFile, err := checkBackupFiles(backup, opts.masterKeyFile)
	if err != nil {
		return r, err
	}
	if src, err := filepath.Abs(backup); err == nil && src == target {
		return r, fmt.Errorf("%s is the backup: restore into another directory", target)
	}
	exists, nonEmpty, lock, err := claimTarget(target, opts.force)
	if err != nil {
		return r, err
	}
	if lock != nil {
		defer lock.Close()
	}

	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return r, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".restore-")
	if err != nil {
		return r, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o700); err != nil {
		return r, err
	}
	if r.blobs, err = copyBackup(backup, tmp, keyFile == filepath.Join(backup, "master.key")); err != nil {
		return r, err
	}
	if keyFile == filepath.Join(backup, "master.key") {
		keyFile = filepath.Join(tmp, "master.key")
	}
	if err := checkRestored(ctx, tmp, keyFile, &r); errors.Is(err, params.ErrWrongMasterKey) {
		shown := filepath.Join(backup, "master.key")
		if opts.masterKeyFile != "" {
			shown = opts.masterKeyFile
		}
		return r, fmt.Errorf("%w: %s is not the key the parameters and secrets of %s were sealed with; give the right one with --master-key-file, or restore another backup", params.ErrWrongMasterKey, shown, backup)
	} else if err != nil {
		return r, err
	}
	if err := syncDir(tmp); err != nil {
		return r, err
	}

	// Into place: the old dir aside, the copy in, the old dir back if that
	// fails. An empty old dir (at most a stopped server's lock) goes.
	if exists {
		r.aside = fmt.Sprintf("%s.before-restore-%s", target, time.Now().Format("20060102-150405"))
		if err := os.Rename(target, r.aside); err != nil {
			return r, err
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		if exists {
			_ = os.Rename(r.aside, target)
		}
		return r, err
	}
	done = true
	if exists && !nonEmpty {
		os.RemoveAll(r.aside)
		r.aside = ""
	}
	return r, syncDir(parent)
}

// checkBackupFiles makes sure the backup holds every file a backup writes,
// and returns the master key's path.
func checkBackupFiles(backup, masterKeyFile string) (keyFile string, err error) {
	info, err := os.Stat(backup)
	if err != nil {
		return "", fmt.Errorf("reading the backup: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("%s is not a directory: give the directory jetway server backup wrote", backup)
	}
	var missing []string
	for _, name := range backupFiles {
		if !nonEmptyFile(filepath.Join(backup, name)) {
			missing = append(missing, name)
		}
	}
	keyFile = filepath.Join(backup, "master.key")
	if masterKeyFile != "" {
		keyFile = masterKeyFile
		if !nonEmptyFile(keyFile) {
			return "", fmt.Errorf("--master-key-file %s: no such file, or it is empty", keyFile)
		}
	} else if !nonEmptyFile(keyFile) {
		missing = append(missing, "master.key (if the server ran with --master-key-file, give that file with --master-key-file)")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: %s lacks %s; a backup made by jetway server backup of a server that has started holds them all", errIncompleteBackup, backup, strings.Join(missing, ", "))
	}
	return keyFile, nil
}

func nonEmptyFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Size() > 0
}

// claimTarget checks that the data dir may be restored into, and returns
// the lock of an existing one, held so that no server starts on it
// meanwhile.
func claimTarget(target string, force bool) (exists, nonEmpty bool, lock *os.File, err error) {
	info, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil, nil
	}
	if err != nil {
		return false, false, nil, err
	}
	if !info.IsDir() {
		return false, false, nil, fmt.Errorf("%s is not a directory", target)
	}
	// A server that uses the data dir holds the lock it leaves there.
	if _, err := os.Stat(filepath.Join(target, "server.lock")); err == nil {
		if lock, err = server.LockDataDir(target); err != nil {
			return false, false, nil, fmt.Errorf("restoring over %s: %w; stop that server before restoring over its data dir", target, err)
		}
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		lock.Close()
		return false, false, nil, err
	}
	for _, e := range entries {
		nonEmpty = nonEmpty || e.Name() != "server.lock"
	}
	if nonEmpty && !force {
		lock.Close()
		return false, false, nil, fmt.Errorf("%w: %s holds %d entries; restore into an empty or new directory, or give --force to move this one aside", errTargetNotEmpty, target, len(entries))
	}
	return true, nonEmpty, lock, nil
}

// copyBackup copies the backup's files into dir: the databases (and a
// write-ahead log, if one was copied with them), the key files and every
// blob, checked against its name. It returns the number of blobs.
func copyBackup(backup, dir string, withKey bool) (int, error) {
	names := append([]string(nil), backupFiles...)
	if withKey {
		names = append(names, "master.key")
	}
	for _, db := range []string{"jetway.db", "params.db"} {
		if nonEmptyFile(filepath.Join(backup, db+"-wal")) {
			names = append(names, db+"-wal")
		}
	}
	for _, name := range names {
		if err := copyFile(filepath.Join(backup, name), filepath.Join(dir, name), nil, true); err != nil {
			return 0, fmt.Errorf("copying %s: %w", name, err)
		}
	}
	root := filepath.Join(backup, "blobs")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		name := d.Name()
		// A blob is blobs/ab/abcd…; a dot file is an upload's leftover.
		if d.IsDir() || strings.HasPrefix(name, ".") || !isBlobHash(name) || filepath.Dir(path) != filepath.Join(root, name[:2]) {
			return nil
		}
		h := sha256.New()
		if err := copyFile(path, filepath.Join(dir, "blobs", name[:2], name), h, true); err != nil {
			return fmt.Errorf("copying blob %s: %w", name, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != name {
			return fmt.Errorf("%w: blob %s hashes to %s", errDamagedBackup, name, got)
		}
		n++
		return nil
	})
	return n, err
}

func isBlobHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// copyFile copies src to the new file dst (0600, in directories 0700),
// through h when it is given, and syncs it when sync is set (a restore
// must be on disk before it is renamed into place).
func copyFile(src, dst string, h hash.Hash, sync bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var w io.Writer = out
	if h != nil {
		w = io.MultiWriter(out, h)
	}
	if _, err := io.Copy(w, in); err != nil {
		out.Close()
		return err
	}
	if sync {
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// checkRestored opens the copy in dir as a server would, and checks what
// a server would only find out later: the databases' integrity, the blobs
// they name, and that the master key unseals a parameter and a secret.
func checkRestored(ctx context.Context, dir, keyFile string, r *restored) error {
	for _, name := range []string{"jetway.db", "params.db"} {
		if err := integrityCheck(ctx, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%w: its %s: %w", errDamagedBackup, name, err)
		}
	}
	st, err := storepkg.Open(ctx, dir)
	if err != nil {
		return fmt.Errorf("the backup's jetway.db: %w", err)
	}
	defer st.Close()
	if r.runs, err = st.RunCount(ctx); err != nil {
		return fmt.Errorf("the backup's jetway.db: %w", err)
	}
	named, err := st.NamedBlobs(ctx)
	if err != nil {
		return fmt.Errorf("the backup's jetway.db: %w", err)
	}
	var missing []string
	for h := range named {
		if !isBlobHash(h) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", h[:2], h)); err != nil {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%w: %d blobs that its bundles and artifacts name are not in its blobs/, %s first", errIncompleteBackup, len(missing), missing[0])
	}
	ps, err := params.OpenSQLiteStore(ctx, filepath.Join(dir, "params.db"), keyFile)
	if err != nil {
		return fmt.Errorf("the backup's params.db: %w", err)
	}
	defer ps.Close()
	r.secrets, err = unsealSamples(ctx, ps)
	return err
}

// integrityCheck runs SQLite's integrity check on the database at path.
func integrityCheck(ctx context.Context, path string) error {
	db, err := sqldb.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("SQLite's integrity check fails: %s", strings.Join(problems, "; "))
	}
	return nil
}

// unsealSamples decrypts the first SecureString parameter and the first
// secret with a value, and says what it decrypted.
func unsealSamples(ctx context.Context, ps *params.Store) (string, error) {
	var did []string
	token := ""
	for {
		page, next, err := ps.DescribeParameters(ctx, 50, token)
		if err != nil {
			return "", fmt.Errorf("listing the backup's parameters: %w", err)
		}
		i := 0
		for i < len(page) && page[i].Type != params.TypeSecureString {
			i++
		}
		if i < len(page) {
			if _, err := ps.GetParameter(ctx, page[i].Name, true); err != nil {
				return "", fmt.Errorf("%w: the master key does not unseal parameter %s: %w", errDamagedBackup, page[i].Name, err)
			}
			did = append(did, "a SecureString parameter")
			break
		}
		if next == "" {
			break
		}
		token = next
	}
	token = ""
	for {
		page, next, err := ps.ListSecrets(ctx, params.ListSecretsInput{MaxResults: 100, NextToken: token})
		if err != nil {
			return "", fmt.Errorf("listing the backup's secrets: %w", err)
		}
		i := 0
		for i < len(page) && page[i].Current == "" {
			i++
		}
		if i < len(page) {
			if _, err := ps.GetSecretValue(ctx, page[i].Name, "", ""); err != nil {
				return "", fmt.Errorf("%w: the master key does not unseal secret %s: %w", errDamagedBackup, page[i].Name, err)
			}
			did = append(did, "a secret")
			break
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(did) == 0 {
		return "no secure values to unseal", nil
	}
	return "the master key unseals " + strings.Join(did, " and "), nil
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
