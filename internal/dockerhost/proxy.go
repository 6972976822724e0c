package dockerhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Dialer opens a connection to a Docker daemon's API.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ListenUnix creates a unix socket at path with the given mode. A stale
// socket left by a dead process is replaced; a live one is an error.
func ListenUnix(path string, mode os.FileMode) (*net.UnixListener, error) {
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by a running process; choose another --listen path", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	l.SetUnlinkOnClose(true)
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting the mode of %s: %w", path, err)
	}
	return l, nil
}

// Proxy serves a local listener by forwarding every accepted connection to a
// new connection from its Dialer, byte for byte in both directions, with
// half-closes passed on (docker attach and build sessions rely on them).
type Proxy struct {
	Dialer Dialer
	Logger *slog.Logger
}

// Serve accepts until ctx is cancelled or the listener fails, then closes the
// listener (removing a unix socket) and waits for open connections to end.
func (p *Proxy) Serve(ctx context.Context, l net.Listener) error {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	connCtx, cancelConns := context.WithCancel(ctx)
	defer func() {
		cancelConns()
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		local, err := l.Accept()
		if err != nil {
			l.Close()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accepting a connection: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.forward(connCtx, log, local)
		}()
	}
}

func (p *Proxy) forward(ctx context.Context, log *slog.Logger, local net.Conn) {
	defer local.Close()
	remote, err := p.Dialer.DialContext(ctx, "", "")
	if err != nil {
		log.Error("cannot reach the docker host for a proxied connection", "err", err)
		answerWithError(local, err)
		return
	}
	defer remote.Close()
	stop := context.AfterFunc(ctx, func() {
		local.Close()
		remote.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(remote, local) }()
	go func() { defer wg.Done(); pipe(local, remote) }()
	wg.Wait()
}

// pipe copies src to dst, then half-closes dst so the far side sees EOF
// while the other direction goes on.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		if cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}

// answerWithError answers the client's first request with a 502 whose
// body carries the reason, so `docker` prints it instead of EOF. It reads
// the request first: closing a connection whose request is unread makes the
// client's write fail with a broken pipe, and the reason is lost.
func answerWithError(conn net.Conn, err error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if req, rerr := http.ReadRequest(bufio.NewReader(conn)); rerr == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
		req.Body.Close()
	}
	body := "jetway proxy: " + err.Error() + "\n"
	fmt.Fprintf(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}
