package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// The Docker hosts page in Chromium, against a real `jetway server`: the
// pool's hosts appear as the server's checks find them, one down with
// the reason, one draining.
func TestDashboardPoolHostsInABrowser(t *testing.T) {
	ctx := browser(t)
	s := startServerWith(t, t.TempDir(), freePort(t), 0)
	c := s.client(t)
	for _, h := range []api.DockerHost{
		{Name: "b1", URL: "tcp://127.0.0.1:1", Pool: "warm", MaxBuilds: 2},
		{Name: "b2", URL: "tcp://127.0.0.1:2", Pool: "warm"},
	} {
		if err := c.Do(context.Background(), http.MethodPost, "/v1/hosts", nil, h, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Do(context.Background(), http.MethodPost, "/v1/hosts/b2/drain", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	signInBrowser(ctx, t, s)
	navigate(ctx, t, s.URL+"/hosts", "#pool-hosts")
	// The server checks a host as it is added; the page shows what it
	// found when it is loaded again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		text := waitText(ctx, t, "#host-b1", "warm", 5*time.Second)
		if strings.Contains(text, "connection refused") || time.Now().After(deadline) {
			break
		}
		navigate(ctx, t, s.URL+"/hosts", "#pool-hosts")
	}
	b1 := waitText(ctx, t, "#host-b1", "connection refused", time.Second)
	if !strings.Contains(b1, "down") || !strings.Contains(b1, "0 / 2") || !strings.Contains(b1, "tcp://127.0.0.1:1") {
		t.Fatalf("b1's row: %q", b1)
	}
	waitText(ctx, t, "#host-b2", "draining", time.Second)
	screenshot(ctx, t, "hosts.png")
}
