package web

import (
	"slices"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

func TestFmtAgo(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s ago"}, // the agent's clock is not ours: never "in the future"
		{0, "0s ago"},
		{999 * time.Millisecond, "0s ago"},
		{2500 * time.Millisecond, "2s ago"},
		{59 * time.Second, "59s ago"},
		{time.Minute, "1m ago"},
		{59*time.Minute + 59*time.Second, "59m ago"},
		{time.Hour, "1h ago"},
		{47 * time.Hour, "1d ago"},
		{49 * time.Hour, "2d ago"},
	} {
		if got := fmtAgo(tc.d); got != tc.want {
			t.Errorf("fmtAgo(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestAgentRows(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	const lease = 30 * time.Second
	for _, tc := range []struct {
		name            string
		agent           api.Agent
		state, text     string
		seen, ago       string
		ageMS           int64
		labels, running []string
	}{
		{"speaking", api.Agent{Name: "b1", LastSeen: at(1500 * time.Millisecond), Labels: map[string]string{"pool": "builders", "arch": "amd64"}, Running: []string{"r1"}},
			"online", "online", "2026-05-01 11:59:58Z", "1s ago", 1500, []string{"arch=amd64", "pool=builders"}, []string{"r1"}},
		{"just under the lease timeout", api.Agent{Name: "b1", LastSeen: at(lease - time.Millisecond)},
			"online", "online", "2026-05-01 11:59:30Z", "29s ago", 29999, nil, nil},
		{"silent for the lease timeout", api.Agent{Name: "b1", LastSeen: at(lease)},
			"offline", "offline", "2026-05-01 11:59:30Z", "30s ago", 30000, nil, nil},
		{"a clock ahead of ours", api.Agent{Name: "b1", LastSeen: at(-time.Second)},
			"online", "online", "2026-05-01 12:00:01Z", "0s ago", 0, nil, nil},
		{"never seen", api.Agent{Name: "b2"}, "new", "never seen", "", "", 0, nil, nil},
		{"revoked", api.Agent{Name: "b3", Revoked: true}, "revoked", "revoked", "", "", 0, nil, nil},
		{"revoked while speaking", api.Agent{Name: "b3", Revoked: true, LastSeen: at(time.Second)},
			"revoked", "revoked", "2026-05-01 11:59:59Z", "1s ago", 1000, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := agentRows([]api.Agent{tc.agent}, now, lease)
			if len(rows) != 1 {
				t.Fatalf("rows %+v", rows)
			}
			r := rows[0]
			if r.State != tc.state || r.StateText != tc.text || r.Seen != tc.seen || r.Ago != tc.ago || r.AgeMS != tc.ageMS {
				t.Errorf("got state %q (%q), seen %q, %q, %d ms; want %q (%q), %q, %q, %d ms", r.State, r.StateText, r.Seen, r.Ago, r.AgeMS,
					tc.state, tc.text, tc.seen, tc.ago, tc.ageMS)
			}
			if !slices.Equal(r.Labels, tc.labels) || !slices.Equal(r.Running, tc.running) {
				t.Errorf("labels %q, running %q; want %q, %q", r.Labels, r.Running, tc.labels, tc.running)
			}
		})
	}
}
