package resolve_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The runner's side reads references through the AWS SDK alone: no
// package an agent or a runner links may pull in a database driver,
// which only the server needs.
func TestRunnerSideLinksNoDatabase(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps",
		"github.com/jetway-dev/jetway/internal/runner",
		"github.com/jetway-dev/jetway/internal/agent",
		"github.com/jetway-dev/jetway/internal/runproto",
		"github.com/jetway-dev/jetway/internal/apiclient",
		"github.com/jetway-dev/jetway/internal/resolve").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, driver := range []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/jetway-dev/jetway/internal/sqldb", "github.com/jetway-dev/jetway/internal/params", "github.com/jetway-dev/jetway/internal/store"} {
			if dep == driver || strings.HasPrefix(dep, driver+"/") {
				t.Errorf("the runner's side links %s", dep)
			}
		}
	}
}
