//go:build linux

package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/sqldb"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

const restoreSecret = "restore-unit-secret-4471"

// seedBackup makes a data dir as a server leaves it (a run whose bundle
// and artifact name a blob, a SecureString, a secret, the key files) and
// backs it up with jetway server backup's code. It returns the backup
// and the blob's hash.
func seedBackup(t *testing.T) (backup, blob string) {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	st, err := storepkg.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	content := []byte("a file of the bundle, and the artifact's one chunk\n")
	sum := sha256.Sum256(content)
	blob = hex.EncodeToString(sum[:])
	if err := os.MkdirAll(filepath.Join(data, "blobs", blob[:2]), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "blobs", blob[:2], blob), content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.PutBundle(ctx, "b1", api.Manifest{Files: []api.File{{Path: "f.txt", Mode: 0o644, Size: int64(len(content)), SHA256: blob}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRun(ctx, storepkg.StoredRun{Run: api.Run{ID: "r1", Project: "p", Status: api.StatusSucceeded, Bundle: "b1", CreatedAt: time.Now()}, ProjectFile: "project: p\n"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddArtifact(ctx, "r1", api.Artifact{Name: "f.txt", Size: int64(len(content)), SHA256: blob}, []string{blob}); err != nil {
		t.Fatal(err)
	}
	ps, err := params.OpenStore(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.PutParameter(ctx, params.PutInput{Name: "/app/KEY", Type: params.TypeSecureString, Value: restoreSecret}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.CreateSecret(ctx, params.CreateSecretInput{Region: "us-east-1", Name: "app/db", Write: params.SecretWrite{Value: []byte(restoreSecret)}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := params.OpenKeys(ctx, ps, params.KeysOptions{DataDir: data}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "token"), []byte("jw_unit_token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backup = filepath.Join(t.TempDir(), "backup")
	c := &CLI{Streams: Streams{Out: io.Discard, Err: io.Discard}}
	if err := backupDataDir(ctx, c, data, backup); err != nil {
		t.Fatal(err)
	}
	return backup, blob
}

// snapshot maps each file under dir to its content's hash.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = hex.EncodeToString(sum[:])
		}
		return nil
	})
	return out
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRestore restores a backup into an absent dir, and into an empty
// one: the modes are a server's, and the secrets decrypt with the
// restored key.
func TestRestore(t *testing.T) {
	backup, blob := seedBackup(t)
	before := snapshot(t, backup)
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, target string)
	}{
		{"absent dir", func(*testing.T, string) {}},
		{"empty dir", func(t *testing.T, target string) {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"a stopped server's lock alone", func(t *testing.T, target string) {
			if err := os.MkdirAll(target, 0o700); err != nil {
				t.Fatal(err)
			}
			lock, err := server.LockDataDir(target)
			if err != nil {
				t.Fatal(err)
			}
			lock.Close()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "data", "jetway")
			tt.setup(t, target)
			code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "server", "restore", backup, "--data", target)
			if code != 0 || !strings.Contains(out, "1 runs, 1 blobs, the master key unseals a SecureString parameter and a secret") || !strings.Contains(out, "jetway server --data "+target) {
				t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
			}
			if strings.Contains(out, "before-restore") {
				t.Errorf("an empty dir was kept aside:\n%s", out)
			}
			err := filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				info, _ := d.Info()
				want := fs.FileMode(0o600)
				if d.IsDir() {
					want = fs.ModeDir | 0o700
				}
				if info.Mode() != want {
					t.Errorf("%s: mode %v, want %v", p, info.Mode(), want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"jetway.db", "params.db", "token", "master.key", "credentials", "config", filepath.Join("blobs", blob[:2], blob)} {
				if _, err := os.Stat(filepath.Join(target, name)); err != nil {
					t.Errorf("restored: %v", err)
				}
			}
			ps, err := params.OpenStore(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			if p, err := ps.GetParameter(context.Background(), "/app/KEY", true); err != nil || p.Value != restoreSecret {
				t.Errorf("the restored SecureString: %q, %v", p.Value, err)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".*restore-*")); len(leftovers) > 0 {
				t.Errorf("left behind: %v", leftovers)
			}
			if !sameSnapshot(before, snapshot(t, backup)) {
				t.Error("the restore changed the backup")
			}
		})
	}
}

// TestRestoreRefuses: a restore that cannot be whole writes nothing, and
// says why; the target and the backup stay as they were.
func TestRestoreRefuses(t *testing.T) {
	otherKey := filepath.Join(t.TempDir(), "master.key")
	{
		other := t.TempDir()
		ps, err := params.OpenStore(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		ps.Close()
		if err := os.Rename(filepath.Join(other, "master.key"), otherKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		// breakIt spoils the backup or the target.
		breakIt func(t *testing.T, backup, blob, target string)
		force   bool
		want    error
		wantAs  any
		wantMsg string
	}{
		{name: "a non-empty data dir", breakIt: func(t *testing.T, _, _, target string) {
			writeTestFile(t, filepath.Join(target, "jetway.db"), "the data dir in use")
		}, want: errTargetNotEmpty},
		{name: "a data dir a server holds, even with --force", breakIt: func(t *testing.T, _, _, target string) {
			writeTestFile(t, filepath.Join(target, "jetway.db"), "the data dir in use")
			lock, err := server.LockDataDir(target)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lock.Close() })
		}, force: true, wantMsg: "stop that server before restoring"},
		{name: "no master.key", breakIt: func(t *testing.T, backup, _, _ string) {
			os.Remove(filepath.Join(backup, "master.key"))
		}, want: errIncompleteBackup},
		{name: "no token", breakIt: func(t *testing.T, backup, _, _ string) {
			os.Remove(filepath.Join(backup, "token"))
		}, want: errIncompleteBackup},
		{name: "no params.db", breakIt: func(t *testing.T, backup, _, _ string) {
			os.Remove(filepath.Join(backup, "params.db"))
		}, want: errIncompleteBackup},
		{name: "a blob missing", breakIt: func(t *testing.T, backup, blob, _ string) {
			os.Remove(filepath.Join(backup, "blobs", blob[:2], blob))
		}, want: errIncompleteBackup},
		{name: "a blob damaged", breakIt: func(t *testing.T, backup, blob, _ string) {
			writeTestFile(t, filepath.Join(backup, "blobs", blob[:2], blob), "not what was uploaded")
		}, want: errDamagedBackup},
		{name: "jetway.db damaged", breakIt: func(t *testing.T, backup, _, _ string) {
			writeTestFile(t, filepath.Join(backup, "jetway.db"), strings.Repeat("not a database ", 512))
		}, want: errDamagedBackup},
		{name: "another master key", breakIt: func(t *testing.T, backup, _, _ string) {
			key, _ := os.ReadFile(otherKey)
			writeTestFile(t, filepath.Join(backup, "master.key"), string(key))
		}, want: params.ErrWrongMasterKey},
		{name: "a schema from a newer jetway", breakIt: func(t *testing.T, backup, _, _ string) {
			db, err := sqldb.OpenSQLite(context.Background(), filepath.Join(backup, "jetway.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(context.Background(), `UPDATE schema_versions SET version = version + 1 WHERE component = 'runs'`); err != nil {
				t.Fatal(err)
			}
		}, wantAs: new(*sqldb.SchemaTooNewError)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			backup, blob := seedBackup(t)
			target := filepath.Join(t.TempDir(), "jetway")
			if err := os.Mkdir(target, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.breakIt(t, backup, blob, target)
			backupBefore, targetBefore := snapshot(t, backup), snapshot(t, target)

			_, err := restoreDataDir(context.Background(), backup, serverRestoreOptions{dataDir: target, force: tt.force})
			switch {
			case err == nil:
				t.Fatal("restored")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			case tt.wantAs != nil && !errors.As(err, tt.wantAs):
				t.Fatalf("err = %v, want a %T", err, tt.wantAs)
			case tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg):
				t.Fatalf("err = %v, want it to say %q", err, tt.wantMsg)
			}
			t.Log(err)
			if !sameSnapshot(targetBefore, snapshot(t, target)) {
				t.Error("the refused restore changed the target")
			}
			if !sameSnapshot(backupBefore, snapshot(t, backup)) {
				t.Error("the refused restore changed the backup")
			}
			if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".*restore-*")); len(leftovers) > 0 {
				t.Errorf("left behind: %v", leftovers)
			}
		})
	}
}

// TestRestoreForce: --force moves a data dir aside and says where.
func TestRestoreForce(t *testing.T) {
	backup, _ := seedBackup(t)
	target := filepath.Join(t.TempDir(), "jetway")
	writeTestFile(t, filepath.Join(target, "jetway.db"), "the old one")
	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "server", "restore", backup, "--data", target)
	if code != ExitFailed || !strings.Contains(errOut, "--force") {
		t.Fatalf("without --force: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runJetway(t, map[string]string{"HOME": t.TempDir()}, "server", "restore", backup, "--data", target, "--force")
	if code != 0 {
		t.Fatalf("--force: exit %d\n%s%s", code, out, errOut)
	}
	aside, _ := filepath.Glob(target + ".before-restore-*")
	if len(aside) != 1 || !strings.Contains(out, aside[0]) {
		t.Fatalf("the old dir aside: %v\n%s", aside, out)
	}
	if b, _ := os.ReadFile(filepath.Join(aside[0], "jetway.db")); string(b) != "the old one" {
		t.Errorf("the old dir holds %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "token")); string(b) != "jw_unit_token\n" {
		t.Errorf("the restored token is %q", b)
	}
}

// TestRestoreHelp: --help teaches both paths.
func TestRestoreHelp(t *testing.T) {
	code, out, errOut := runJetway(t, map[string]string{"HOME": t.TempDir()}, "server", "restore", "--help")
	for _, want := range []string{"restore BACKUP_DIR --data DIR", "--force", "pg_dump -Fc", "pg_restore", "master.key", "--master-key-file"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("server restore --help lacks %q (exit %d)\n%s%s", want, code, out, errOut)
		}
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
