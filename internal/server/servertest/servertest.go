// Package servertest runs a real jetway server for tests of its clients.
package servertest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/server"
)

// Start serves a server with opts on a loopback port until the test ends,
// and returns its URL and API token.
func Start(t testing.TB, opts server.Options) (url, token string) {
	t.Helper()
	srv, err := server.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	data, err := os.ReadFile(filepath.Join(opts.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + l.Addr().String(), strings.TrimSpace(string(data))
}
