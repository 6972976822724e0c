//go:build linux

package cli

import (
	"strings"
	"testing"
)

// The database URL carries its password: --help never prints it, and a
// URL that is not PostgreSQL's is refused naming no password either.
func TestServerDatabaseURLStaysSecret(t *testing.T) {
	env := map[string]string{"JETWAY_DATABASE": "postgres://jetway:s3cret-pw@db:5432/jetway", "HOME": t.TempDir()}
	code, out, errOut := runJetway(t, env, "server", "--help")
	if code != 0 || strings.Contains(out+errOut, "s3cret-pw") || !strings.Contains(out, "JETWAY_DATABASE") {
		t.Fatalf("server --help: exit %d, the password shown or the variable not named:\n%s%s", code, out, errOut)
	}
	env["JETWAY_DATABASE"] = "mysql://jetway:s3cret-pw@db/jetway"
	code, out, errOut = runJetway(t, env, "server", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--concurrency", "0")
	if code == 0 || strings.Contains(out+errOut, "s3cret-pw") || !strings.Contains(errOut, "give a PostgreSQL URL") {
		t.Fatalf("a MySQL URL: exit %d:\n%s%s", code, out, errOut)
	}
}
