package cli

import (
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/jetway-dev/jetway/internal/apiclient"
)

// DefaultServer is where clients look for a server by default.
const DefaultServer = "http://127.0.0.1:7070"

// DefaultDataDir is the server's data dir: $XDG_DATA_HOME/jetway, else
// ~/.local/share/jetway.
func (c *CLI) DefaultDataDir() string {
	if x := c.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "jetway")
	}
	return filepath.Join(c.Home(), ".local", "share", "jetway")
}

// clientFlags choose the server and token of client commands.
type clientFlags struct {
	server  string
	token   string
	context string
}

func (f *clientFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "jetway server URL (default $JETWAY_SERVER, else the saved login, else the server running on this machine, else "+DefaultServer+")")
	fs.StringVar(&f.token, "token", "", "API token (default $JETWAY_TOKEN, else the saved login, else the token file of the server on this machine)")
	fs.StringVar(&f.context, contextFlag, "", "the saved login (jetway context ls) to use (default $JETWAY_CONTEXT, else the current one)")
}

// client resolves the server and token: flags, then JETWAY_SERVER and
// JETWAY_TOKEN, then the file `jetway login` saves, then the server
// running on this machine (the server.json it records, whatever its
// --listen and --data), then the defaults, so that on the server's own
// machine nothing needs setting.
func (f *clientFlags) client(c *CLI) *apiclient.Client {
	// An unknown --context or JETWAY_CONTEXT was refused before the
	// command ran (checkContext).
	saved, _, _ := c.savedLogin(f.context)
	rec, found := c.findServer()
	server := first(f.server, c.Getenv("JETWAY_SERVER"), saved.Server, rec.URL, DefaultServer)
	token := first(f.token, c.Getenv("JETWAY_TOKEN"), saved.Token)
	if token == "" && found && strings.TrimSuffix(server, "/") == rec.URL {
		token = readTokenFile(rec.TokenFile)
	}
	if token == "" {
		token = readTokenFile(filepath.Join(c.DefaultDataDir(), "token"))
	}
	return apiclient.New(server, token)
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
