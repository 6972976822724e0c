package store

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// A data dir's store moves into an empty PostgreSQL database whole: runs
// with their logs and states, agents, bundles, blobs; new runs number on.
func TestCopyToPostgres(t *testing.T) {
	ctx := context.Background()
	src, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	create(t, src, "r1", "a")
	create(t, src, "r2", "b")
	if err := src.CreateRun(ctx, StoredRun{Run: api.Run{ID: "r4", Project: "d", Status: api.StatusQueued, CreatedAt: time.Now(), Bundle: "b", RerunOf: "r1"},
		ProjectFile: "project: d\n", RunVars: map[string]string{"COLOR": "blue"}}); err != nil {
		t.Fatal(err)
	}
	if err := src.AddArtifact(ctx, "r1", api.Artifact{Name: "out/a.txt", Size: 7, SHA256: "h"}, []string{"h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AppendLog(ctx, "r1", "hello\n"); err != nil {
		t.Fatal(err)
	}
	if ok, err := src.AppendEvents(ctx, "r1", 0, 3, "three events\n"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	src.Transition(ctx, "r1", []string{api.StatusQueued}, api.StatusSucceeded, "", &api.Summary{Status: api.StatusSucceeded})
	if err := src.CreateAgent(ctx, "builder", "hash", map[string]string{"pool": "x"}, 3); err != nil {
		t.Fatal(err)
	}
	if err := src.PutBundle(ctx, "b", api.Manifest{Files: []api.File{{Path: "f", SHA256: "h"}}}); err != nil {
		t.Fatal(err)
	}
	if err := src.PutBlob(ctx, "h", bytes.NewReader([]byte("content"))); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PutProject(ctx, api.Project{Name: "a", Docker: api.DockerPolicy{Allow: []string{api.DockerAllowDevices}, ExposeCredentials: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.GrantDockerPolicy(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddHost(ctx, host("b1", "warm")); err != nil {
		t.Fatal(err)
	}
	checked := time.Now().UTC().Truncate(time.Microsecond)
	if _, _, err := src.RecordHostState(ctx, "b1", api.HostState{Up: true, CheckedAt: checked, FreeBytes: 5 << 30, DiskBytes: 20 << 30}); err != nil {
		t.Fatal(err)
	}
	if err := src.RecordHostGC(ctx, "b1", api.GCReport{At: checked, Reason: "after run", ImagesFreed: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := src.AssignDockerHost(ctx, "r1", "Dockerfile", api.AssignedHost{Pool: "warm", Candidates: []api.HostCandidate{{Name: "b1", URL: "ssh://b@b1", Home: true}}}); err != nil {
		t.Fatal(err)
	}
	if err := src.SetBuiltOn(ctx, "r1", "b1"); err != nil {
		t.Fatal(err)
	}
	dst := openPostgres(t, pg.DB(t))
	counts, err := src.CopyTo(ctx, dst, false)
	if err != nil {
		t.Fatal(err)
	}
	if counts["runs"] != 3 || counts["log_chunks"] != 2 || counts["agents"] != 1 || counts["artifacts"] != 1 || counts["projects"] != 1 || counts["docker_hosts"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	r1, err := dst.GetRun(ctx, "r1")
	if err != nil || r1.Status != api.StatusSucceeded || r1.Summary == nil || r1.Pass["BUNDLE_X"] != "1" {
		t.Fatalf("r1 %+v %v", r1, err)
	}
	if r4, err := dst.GetRun(ctx, "r4"); err != nil || r4.RerunOf != "r1" || r4.RunVars["COLOR"] != "blue" || r4.Docker != nil {
		t.Fatalf("r4 %+v %v", r4, err)
	}
	// The operator's settings move, and so does the policy a run was given.
	if r1.Docker == nil || r1.Docker.String() != "allows devices; phases hold the Docker host's credentials" {
		t.Fatalf("r1's Docker policy: %+v", r1.Docker)
	}
	if p, err := dst.GetProject(ctx, "a"); err != nil || !slices.Equal(p.Docker.Allow, []string{api.DockerAllowDevices}) || !p.Docker.ExposeCredentials || p.UpdatedAt.IsZero() {
		t.Fatalf("project a: %+v %v", p, err)
	}
	// The Docker hosts move with their state and last GC, and so do the
	// host a run was given and the one it built on.
	if h, err := dst.GetHost(ctx, "b1"); err != nil || h.Pool != "warm" || h.SSHKey != "SSM:/hosts/b1/key" || h.GC.MaxUsed != 300<<20 || h.State == nil ||
		!h.State.Up || !h.State.Since.Equal(checked) || h.State.FreeBytes != 5<<30 || h.State.LastGC == nil || h.State.LastGC.ImagesFreed != 1<<20 {
		t.Fatalf("host b1: %+v %+v %v", h, h.State, err)
	}
	if r1.DockerHost == nil || r1.DockerHost.Pool != "warm" || !r1.DockerHost.Candidates[0].Home || r1.BuiltOn != "b1" {
		t.Fatalf("r1's Docker host: %+v %q", r1.DockerHost, r1.BuiltOn)
	}
	if keys, err := dst.PoolKeys(ctx); err != nil || len(keys) != 1 || keys[0] != (PoolKey{Pool: "warm", Project: "a", Dockerfile: "Dockerfile"}) {
		t.Fatalf("pool keys: %+v %v", keys, err)
	}
	if arts, err := dst.ListArtifacts(ctx, "r1"); err != nil || len(arts) != 1 || arts[0].Name != "out/a.txt" {
		t.Fatalf("artifacts %+v %v", arts, err)
	}
	chunks, _ := dst.ReadLog(ctx, "r1", 0)
	if len(chunks) != 2 || chunks[1].Data != "three events\n" {
		t.Fatalf("log %+v", chunks)
	}
	if acked, _ := dst.EventsAcked(ctx, "r1"); acked != 3 {
		t.Fatalf("events acked %d", acked)
	}
	// The log goes on where it was.
	if seq, err := dst.AppendLog(ctx, "r1", "more"); err != nil || seq != 3 {
		t.Fatalf("next chunk %d %v", seq, err)
	}
	a, err := dst.AgentByName(ctx, "builder")
	if err != nil || a.Allowed["pool"] != "x" || a.MaxConcurrency != 3 || a.TokenHash != "hash" {
		t.Fatalf("agent %+v %v", a, err)
	}
	if _, err := dst.GetBundle(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	rc, err := dst.OpenBlob(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "content" {
		t.Fatalf("blob %q", b)
	}
	// New runs are numbered after the copied ones: newest first still holds.
	if err := dst.CreateRun(ctx, StoredRun{Run: api.Run{ID: "r3", Project: "c", Status: api.StatusQueued, CreatedAt: time.Now(), Bundle: "b"}, ProjectFile: "project: c\n"}); err != nil {
		t.Fatal(err)
	}
	if runs, _ := dst.ListRuns(ctx, "", nil, 1); len(runs) != 1 || runs[0].ID != "r3" {
		t.Fatalf("newest %+v", runs)
	}
	// A second move into the same database is refused.
	if _, err := src.CopyTo(ctx, dst, false); err == nil {
		t.Fatal("a copy into a database with runs succeeded")
	}
}

// A move run again resumes: what the target holds stays, the rest comes.
func TestCopyToResumes(t *testing.T) {
	ctx := context.Background()
	src, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	create(t, src, "r1", "a")
	dst := openPostgres(t, pg.DB(t))
	if _, err := src.CopyTo(ctx, dst, false); err != nil {
		t.Fatal(err)
	}
	create(t, src, "r2", "b")
	counts, err := src.CopyTo(ctx, dst, true)
	if err != nil || counts["runs"] != 1 {
		t.Fatalf("resumed: %v %v", counts, err)
	}
	if _, err := dst.GetRun(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
}
