// Command jetway builds and deploys container images on throw-away runners
// that reuse the layer cache of a persistent remote Docker host.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetway-dev/jetway/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
