package cli

import "testing"

// TestExitStatuses: what cobra checks (flags, argument counts, unknown
// commands) leaves with the usage status, as the README documents; a
// server that is not there with the unreachable one.
func TestExitStatuses(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "JETWAY_SERVER": "http://127.0.0.1:1", "JETWAY_TOKEN": "x"}
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, ExitOK},
		{"unknown command", []string{"nosuch"}, ExitUsage},
		{"unknown flag", []string{"runs", "--nosuch"}, ExitUsage},
		{"bad flag value", []string{"runs", "--limit", "x"}, ExitUsage},
		{"missing argument", []string{"logs"}, ExitUsage},
		{"extra argument", []string{"version", "extra"}, ExitUsage},
		{"unreachable server", []string{"runs"}, ExitUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, stderr := runJetway(t, env, tt.args...); code != tt.want {
				t.Errorf("jetway %q: exit %d, want %d; stderr: %s", tt.args, code, tt.want, stderr)
			}
		})
	}
}
