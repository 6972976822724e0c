package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/jetway-dev/jetway/internal/api"
)

// Issue 23's restore drill: a server with runs (logs, artifacts), a
// SecureString, a Secrets Manager secret, an API token and its audit log
// is backed up while it runs, stopped, and restored with jetway server
// restore into a fresh data dir; a server started there has everything.
func TestRestoreDrill(t *testing.T) {
	b := bed.Get(t)
	const (
		apiKey   = "drill-api-key-55123"
		dbSecret = "drill-db-password-80417"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := startServer(t, t.TempDir(), freePort(t), 1)
	s.putParam(t, "/drill/API_KEY", "SecureString", apiKey)
	sm := smClient(t, s)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("drill/db"), SecretString: aws.String(dbSecret)}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	token := createToken(t, s, "drill-bot", "--role", "deployer", "--projects", "drill-*")

	// Two runs of one project, the second from changed sources: a log of
	// 3000 lines with both secrets masked, and artifacts.
	dir := t.TempDir()
	data := make([]byte, 2<<20)
	_, _ = rand.Read(data)
	writeFiles(t, dir, map[string]string{
		"data.bin": string(data),
		"src.txt":  "version one\n",
		"jetway.yaml": fmt.Sprintf(`project: drill-app
env:
  vars:
    DOCKER_HOST: unix://%s
    API_KEY: SSM:/drill/API_KEY
    DB_PASSWORD: SECRET:drill/db
artifacts: [out/]
phases:
  build:
    - echo "key is $API_KEY, db is $DB_PASSWORD"
    - seq -f 'line %%g of the drill' 1 3000
    - mkdir -p out && cp src.txt data.bin out/
`, b.LocalSocket),
	})
	first := s.deployWait(t, dir)
	writeFiles(t, dir, map[string]string{"src.txt": "version two\n"})
	second := s.deployWait(t, dir)
	logs := map[string]string{}
	for _, r := range []api.Run{first, second} {
		if r.Status != api.StatusSucceeded {
			t.Fatalf("run %s: %s %s\n%s", r.ID, r.Status, r.Reason, s.storedLog(t, r.ID))
		}
		logs[r.ID] = s.storedLog(t, r.ID)
		if !strings.Contains(logs[r.ID], "key is [MASKED], db is [MASKED]") || !strings.Contains(logs[r.ID], "line 3000 of the drill") {
			t.Fatalf("run %s's log:\n%s", r.ID, logs[r.ID])
		}
	}
	auditBefore := auditLog(t, ctx, s)
	credentialsBefore, _ := os.ReadFile(filepath.Join(s.DataDir, "credentials"))

	// Backed up while it runs, then stopped: the machine is lost.
	backup := filepath.Join(t.TempDir(), "backup")
	if code, out, errOut := s.jetway(t, ctx, "/", "server", "backup", "--data", s.DataDir, backup); code != 0 {
		t.Fatalf("backup: exit %d %s %s", code, out, errOut)
	}
	s.stop()

	home := t.TempDir()
	data2 := filepath.Join(home, ".local", "share", "jetway")
	start := time.Now()
	code, out, errOut := s.jetway(t, ctx, "/", "server", "restore", backup, "--data", data2)
	if code != 0 || !strings.Contains(out, "2 runs") || !strings.Contains(out, "the master key unseals a SecureString parameter and a secret") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("restore took %s: %s", time.Since(start).Round(time.Millisecond), out)
	if info, err := os.Stat(data2); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("the restored data dir: %v %v", info.Mode(), err)
	}
	r := startServer(t, home, freePort(t), 1)

	// Secrets decrypt: through the CLI, and through the AWS API with the
	// profile's key pair, which is the one the clients had.
	if code, out, errOut := r.jetway(t, ctx, "/", "params", "get", "--decrypt", "/drill/API_KEY"); code != 0 || !strings.Contains(out, apiKey) {
		t.Fatalf("params get --decrypt: exit %d %q %s", code, out, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(r.DataDir, "credentials")); string(got) != string(credentialsBefore) {
		t.Error("the restored AWS credentials are a new pair")
	}
	sv, err := smClient(t, r).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("drill/db")})
	if err != nil || aws.ToString(sv.SecretString) != dbSecret {
		t.Fatalf("GetSecretValue after the restore: %v", err)
	}
	// Logs complete, byte for byte.
	for id, want := range logs {
		if got := r.storedLog(t, id); got != want {
			t.Fatalf("run %s's log after the restore differs:\n%s", id, got)
		}
	}
	// Artifacts download, with the hashes they were kept with.
	got := filepath.Join(t.TempDir(), "artifacts")
	if code, out, errOut := r.jetway(t, ctx, "/", "runs", "artifacts", first.ID, "-o", got); code != 0 {
		t.Fatalf("runs artifacts: exit %d %s %s", code, out, errOut)
	}
	if sha256File(t, filepath.Join(got, "out", "data.bin")) != sha256Hex(data) {
		t.Fatal("out/data.bin after the restore is not the file the run kept")
	}
	if b, _ := os.ReadFile(filepath.Join(got, "out", "src.txt")); string(b) != "version one\n" {
		t.Fatalf("out/src.txt of the first run: %q", b)
	}
	// The API token still works, within its scope.
	code, out, errOut = jetwayAs(t, ctx, r, token, "/", "runs")
	if code != 0 || !strings.Contains(out, first.ID) || !strings.Contains(out, second.ID) {
		t.Fatalf("jetway runs with the token after the restore: exit %d\n%s%s", code, out, errOut)
	}
	// The audit log holds every entry it held.
	auditAfter := auditLog(t, ctx, r)
	for _, e := range auditBefore {
		found := false
		for _, a := range auditAfter {
			found = found || (a.Seq == e.Seq && a.At.Equal(e.At) && a.Actor == e.Actor && a.Action == e.Action && a.Target == e.Target && a.Detail == e.Detail && a.Outcome == e.Outcome)
		}
		if !found {
			t.Errorf("the audit entry %+v is lost", e)
		}
	}
	if !auditHas(auditAfter, api.AuditEntry{Actor: "admin", Action: "token.create", Target: "drill-bot", Outcome: api.OutcomeOK}) {
		t.Errorf("the token's creation is not in the restored audit log: %+v", auditAfter)
	}
	// A rerun of the first run builds its sources, from the restored
	// bundle and blobs, with its secrets.
	code, out, errOut = r.jetway(t, ctx, dir, "rerun", first.ID)
	if code != 0 || !strings.Contains(out, "key is [MASKED], db is [MASKED]") {
		t.Fatalf("rerun after the restore: exit %d\n%s\n%s", code, out, errOut)
	}
	rerun := queuedRE.FindStringSubmatch(errOut)[1]
	got = filepath.Join(t.TempDir(), "rerun")
	if code, out, errOut := r.jetway(t, ctx, "/", "runs", "artifacts", rerun, "-o", got); code != 0 {
		t.Fatalf("the rerun's artifacts: exit %d %s %s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(got, "out", "src.txt")); string(b) != "version one\n" || sha256File(t, filepath.Join(got, "out", "data.bin")) != sha256Hex(data) {
		t.Fatalf("the rerun of %s built %q, not that run's sources", first.ID, b)
	}
}

// TestRestorePostgres tests the --help's PostgreSQL path: pg_dump -Fc of
// a served database, pg_restore into an empty one, and a data dir holding
// copies of master.key and token; a server there decrypts the secrets and
// takes the token.
func TestRestorePostgres(t *testing.T) {
	const secret = "pg-drill-secret-30951"
	url := pg.DB(t)
	bin := pgBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServerWith(t, t.TempDir(), freePort(t), 0, "--database", url)
	s.putParam(t, "/pg/API_KEY", "SecureString", secret)
	token := createToken(t, s, "pg-bot", "--role", "viewer")
	dump := filepath.Join(t.TempDir(), "jetway.dump")
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), "-Fc", "-f", dump, url).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	s.stop()

	restored := pg.DB(t)
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "pg_restore"), "--no-owner", "-d", restored, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	home := t.TempDir()
	data := filepath.Join(home, ".local", "share", "jetway")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"master.key", "token"} {
		b, err := os.ReadFile(filepath.Join(s.DataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := startServerWith(t, home, freePort(t), 0, "--database", restored)
	if code, out, errOut := r.jetway(t, ctx, "/", "params", "get", "--decrypt", "/pg/API_KEY"); code != 0 || !strings.Contains(out, secret) {
		t.Fatalf("params get --decrypt on the restored database: exit %d %q %s", code, out, errOut)
	}
	if code, out, errOut := jetwayAs(t, ctx, r, token, "/", "runs"); code != 0 {
		t.Fatalf("the token on the restored database: exit %d\n%s%s", code, out, errOut)
	}
	if !auditHas(auditLog(t, ctx, r), api.AuditEntry{Action: "token.create", Target: "pg-bot"}) {
		t.Error("the restored database's audit log lacks the token's creation")
	}
}

// pgBin is the directory of Debian's PostgreSQL client programs.
func pgBin(t *testing.T) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_restore")
	if len(found) == 0 {
		if p, err := exec.LookPath("pg_restore"); err == nil {
			return filepath.Dir(p)
		}
		t.Skip("no pg_dump/pg_restore: install Debian's postgresql")
	}
	return filepath.Dir(found[len(found)-1])
}

// smClient is a Secrets Manager client of s, with the admin pair of its
// data dir's AWS profile.
func smClient(t *testing.T, s *serverProc) *secretsmanager.Client {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.DataDir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			keys[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keys["aws_access_key_id"], keys["aws_secret_access_key"], ""),
	})
}

func auditLog(t *testing.T, ctx context.Context, s *serverProc) []api.AuditEntry {
	t.Helper()
	code, out, errOut := s.jetway(t, ctx, "/", "audit", "--json")
	var entries []api.AuditEntry
	if code != 0 || json.Unmarshal([]byte(out), &entries) != nil || len(entries) == 0 {
		t.Fatalf("audit --json: exit %d\n%s%s", code, out, errOut)
	}
	return entries
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}
