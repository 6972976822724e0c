package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/record"
	storepkg "github.com/jetway-dev/jetway/internal/store"
)

// A run token reads the references of the variables given for the run
// (-e) too.
func TestRunRefsIncludeRunVars(t *testing.T) {
	run := record.Run{ProjectFile: "project: app\nenv:\n  vars:\n    A: SSM:/dev/A\n", RunVars: map[string]string{"B": "SSM:/#{ssm_env}/B", "C": "SECRET:c", "D": "plain"}}
	run.Env = "prod"
	parameters, secrets := runRefs(run)
	slices.Sort(parameters)
	if !slices.Equal(parameters, []string{"/dev/A", "/prod/B"}) || !slices.Equal(secrets, []string{"c"}) {
		t.Fatalf("parameters %q, secrets %q", parameters, secrets)
	}
}

// The source of a run whose files are no longer stored (pruned) cannot
// be run again; the refusal says so and what to do.
func TestRerunOfAPrunedSource(t *testing.T) {
	ctx := context.Background()
	s, err := openServer(ctx, Options{DataDir: filepath.Join(t.TempDir(), "data")}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	content := "hello"
	sum := sha256.Sum256([]byte(content))
	hash := hex.EncodeToString(sum[:])
	var z bytes.Buffer
	enc, _ := zstd.NewWriter(&z)
	enc.Write([]byte(content))
	enc.Close()
	if _, err := s.blobs.Put(ctx, hash, int64(len(content)), &z); err != nil {
		t.Fatal(err)
	}
	if err := s.runs.PutBundle(ctx, "b1", api.Manifest{Files: []api.File{{Path: "f", SHA256: hash, Size: 5, Mode: 0o644}}}); err != nil {
		t.Fatal(err)
	}
	old := record.Run{Run: api.Run{ID: "old1", Project: "p", Status: api.StatusSucceeded, CreatedAt: time.Now(), Bundle: "b1", Git: api.Git{SHA: "abcdef1234", Branch: "main"}}, ProjectFile: "project: p\n"}
	if err := s.runs.CreateRun(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rerun(ctx, adminPrincipal, "old1", api.RerunRequest{}); err != nil {
		t.Fatalf("with its source: %v", err)
	}
	if err := os.Remove(filepath.Join(s.dataDir, "blobs", hash[:2], hash)); err != nil {
		t.Fatal(err)
	}
	_, err = s.rerun(ctx, adminPrincipal, "old1", api.RerunRequest{})
	if !errors.Is(err, errNoSource) || !strings.Contains(err.Error(), "1 of the files of run old1 are no longer stored") || !strings.Contains(err.Error(), "deploy that commit again (main@abcdef1)") {
		t.Fatalf("without its files: %v", err)
	}
	if _, err := s.runs.(*storepkg.Store).DB().ExecContext(ctx, `DELETE FROM bundles`); err != nil {
		t.Fatal(err)
	}
	if _, err = s.rerun(ctx, adminPrincipal, "old1", api.RerunRequest{}); !errors.Is(err, errNoSource) || !strings.Contains(err.Error(), "was pruned by the server's retention") {
		t.Fatalf("without its bundle: %v", err)
	}
}

var adminPrincipal = principal{Name: api.AdminTokenName, Role: api.RoleAdmin}
