package dockerhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNoShell is returned by Exec for hosts reached without SSH.
var ErrNoShell = errors.New("the Docker host is not reached over ssh, so no command can run on it")

// Exec runs command on an ssh:// host over its connection and returns
// its standard output. The Engine API cannot say how full the host's disk
// is; this is how the pool learns it.
func (h *Host) Exec(ctx context.Context, command string) ([]byte, error) {
	if h.ssh == nil {
		return nil, ErrNoShell
	}
	live, err := h.ssh.connection(ctx)
	if err != nil {
		return nil, err
	}
	session, err := live.NewSession()
	if err != nil {
		return nil, fmt.Errorf("opening a session on %s: %w", h.ssh.remote(), err)
	}
	defer session.Close()
	var stdout, stderr bytes.Buffer
	session.Stdout, session.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- session.Run(command) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = session.Close()
		return nil, context.Cause(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w: %s", command, h.ssh.remote(), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
