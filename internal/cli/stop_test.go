package cli

import (
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

func TestActiveRun(t *testing.T) {
	run := func(id, project, status string) api.Run { return api.Run{ID: id, Project: project, Status: status} }
	tests := []struct {
		name   string
		runs   []api.Run
		want   string
		others string
		err    string
	}{
		{"the running one", []api.Run{run("q2", "app", "queued"), run("r1", "app", "running"), run("d0", "app", "succeeded")}, "r1", "q2", ""},
		{"provisioning counts as running", []api.Run{run("p1", "app", "provisioning")}, "p1", "", ""},
		{"the only queued one", []api.Run{run("q1", "app", "queued"), run("f0", "app", "failed")}, "q1", "", ""},
		{"other projects do not count", []api.Run{run("x1", "other", "running"), run("q1", "app", "queued")}, "q1", "", ""},
		{"none", []api.Run{run("d0", "app", "succeeded"), run("x1", "other", "running")}, "", "", "project app has no queued or running run"},
		{"several queued", []api.Run{run("q2", "app", "queued"), run("q1", "app", "queued")}, "", "", "several active runs: q2, q1; pass the one to cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, others, err := activeRun("app", tt.runs)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got.ID != tt.want || strings.Join(others, ",") != tt.others {
				t.Fatalf("got %s %v %v, want %s %s", got.ID, others, err, tt.want, tt.others)
			}
		})
	}
}
