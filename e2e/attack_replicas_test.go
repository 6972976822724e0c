package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/params"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

// oldDataDir makes the data dir of a SQLite server with a run, a
// SecureString parameter and many blobs, as a server leaves it.
func oldDataDir(t *testing.T, blobs int) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := storepkg.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateRun(ctx, storepkg.StoredRun{Run: api.Run{ID: "old1", Project: "p", Status: api.StatusSucceeded, Bundle: "b", CreatedAt: time.Now()}, ProjectFile: "project: p\n"}); err != nil {
		t.Fatal(err)
	}
	p, err := params.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.PutParameter(ctx, params.PutInput{Name: "/prod/API_KEY", Type: params.TypeSecureString, Value: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("jw_attack\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("x"), 32<<10)
	for i := range blobs {
		c := append([]byte(fmt.Sprint(i)), content...)
		sum := sha256.Sum256(c)
		h := hex.EncodeToString(sum[:])
		if err := os.MkdirAll(filepath.Join(dir, "blobs", h[:2]), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "blobs", h[:2], h), c, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// `jetway server migrate` killed part way (a lost ssh session, an OOM
// kill): a server started on the half-filled database is refused, and the
// move run again resumes and finishes (it had been refused, "holds runs
// already", while the parameters and most blobs never arrived, and
// servers came up without them).
func TestAttackMigrateKilledPartWay(t *testing.T) {
	bin := jetwayBinary(t)
	url := pg.DB(t)
	dir := oldDataDir(t, 600)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "server", "migrate", "--from", dir, "--to", url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Killed once the blobs are being copied.
	for {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs`).Scan(&n); err == nil && n > 0 {
			_ = cmd.Process.Kill()
			<-exited
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("migrate finished before it could be killed (%v): %s", err, out.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
	// A server on the half-filled database is refused.
	home := filepath.Dir(filepath.Dir(filepath.Dir(dir)))
	early := exec.CommandContext(ctx, bin, "server", "--data", dir, "--database", url, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	early.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	if out, err := early.CombinedOutput(); err == nil || !strings.Contains(string(out), "has not finished") {
		t.Fatalf("a server on a half-moved database: %v\n%s", err, out)
	}
	again := exec.CommandContext(ctx, bin, "server", "migrate", "--from", dir, "--to", url)
	second, err := again.CombinedOutput()
	if err != nil {
		var blobs, params int
		_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs`).Scan(&blobs)
		_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions`).Scan(&params)
		t.Fatalf("migrate again after it was killed: %v: %s\nthe database keeps the runs, %d of 600 blobs and %d parameter versions (of 1)", err, strings.TrimSpace(string(second)), blobs, params)
	}
	var blobs, params int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs`).Scan(&blobs)
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM param_versions`).Scan(&params)
	if blobs != 600 || params != 1 {
		t.Fatalf("after the resumed move: %d of 600 blobs, %d of 1 parameter versions", blobs, params)
	}
	// Once finished, a third run is refused: the database is served.
	if out, err := exec.CommandContext(ctx, bin, "server", "migrate", "--from", dir, "--to", url).CombinedOutput(); err == nil || !strings.Contains(string(out), "has finished already") {
		t.Fatalf("a move into a moved database: %v %s", err, out)
	}
}
