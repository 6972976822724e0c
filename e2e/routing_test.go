package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A run that no agent can take stays queued, and `jetway runs` and
// `jetway deploy` say why.
func TestUnroutableRunSaysWhyItWaits(t *testing.T) {
	b := bed.Get(t)
	s := startServer(t, t.TempDir(), freePort(t), 1)
	dir := localProject(t, b, "nowhere", "echo never", "runs_on: {pool: nowhere}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, errOut := s.jetway(t, ctx, dir, "deploy")
	if !strings.Contains(errOut, "is waiting for an agent with the labels pool=nowhere") || !strings.Contains(errOut, "no connected agent has them") {
		t.Fatalf("deploy does not say why the run waits:\n%s", errOut)
	}
	code, out, _ := s.jetway(t, context.Background(), dir, "runs")
	if code != 0 || !strings.Contains(out, "queued") || !strings.Contains(out, "labels pool=nowhere") {
		t.Fatalf("jetway runs does not say why the run waits:\n%s", out)
	}
}
