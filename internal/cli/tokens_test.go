package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

func TestParseLife(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"d", 0, false},
		{"1w", 0, false},
		{"-5m", 0, false},
	} {
		got, err := parseLife(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseLife(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"24h", now.Add(-24 * time.Hour), true},
		{"7d", now.AddDate(0, 0, -7), true},
		{"2026-12-01T10:00:00Z", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v", tc.in, got, err)
		}
	}
	if got, err := parseSince("2026-12-01", now); err != nil || got.Year() != 2026 || got.Day() != 1 {
		t.Errorf("a date: %v %v", got, err)
	}
}

func TestPrintTokens(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	used, expired := now.Add(-2*time.Hour), now.Add(-time.Minute)
	var out bytes.Buffer
	err := printTokens(&out, []api.Token{
		{Name: "alice", Role: api.RoleDeployer, Projects: []string{"shop-*"}, Params: []string{"/prod/shop/*"}, CreatedAt: now.Add(-72 * time.Hour), LastUsedAt: &used},
		{Name: "bob", Role: api.RoleViewer, CreatedAt: now.Add(-time.Hour), ExpiresAt: &expired},
		{Name: "root2", Role: api.RoleAdmin, CreatedAt: now},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, want := range [][]string{
		{"NAME", "ROLE", "PROJECTS", "PARAMS", "LAST USED", "EXPIRES"},
		{"alice", "deployer", "shop-*", "/prod/shop/*", "2h ago", "never"},
		{"bob", "viewer", "all", "none", "never", "(expired)"},
		{"root2", "admin", "all", "all"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}
