package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

// deploy's "N files" and --dry-run's count the same things: files and
// links, not the directories a manifest also lists.
func TestDeployCountsWhatDryRunLists(t *testing.T) {
	m := api.Manifest{Files: []api.File{
		{Path: "src", Mode: 0o40755},
		{Path: "src/app.rb", Mode: 0o644, Size: 10},
		{Path: "src/lib", Mode: 0o40755},
		{Path: "src/lib/x.rb", Mode: 0o644, Size: 5},
		{Path: "current", Mode: 0o120777, Link: "src"},
	}}
	files, size := bundleFiles(m)
	if len(files) != 3 || size != 15 {
		t.Fatalf("bundleFiles: %d files, %d bytes; want 3 and 15", len(files), size)
	}
	var out bytes.Buffer
	if err := printDryRun(&out, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\n3 files, 15 B; nothing uploaded") {
		t.Fatalf("--dry-run:\n%s", out.String())
	}
}
