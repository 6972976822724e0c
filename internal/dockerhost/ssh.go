package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshTransport keeps one SSH connection per process and opens a channel on it
// for every Docker API connection: a direct-streamlocal channel to the remote
// socket, or, where the server forbids stream-local forwarding, an exec
// channel running `docker system dial-stdio`. A connection that dropped is
// redialed once, on the next dial.
type sshTransport struct {
	spec      Spec
	user      string
	config    *ssh.ClientConfig
	ids       *identities
	timeout   time.Duration
	check     AddressCheck
	keepAlive time.Duration
	log       *slog.Logger

	mu     sync.Mutex
	live   *liveClient
	closed bool

	// mode remembers how the remote socket was reached so later dials skip
	// the attempts that failed.
	mode atomic.Int32
}

const (
	modeUnknown int32 = iota
	modeStreamLocal
	modeDialStdio
)

type liveClient struct {
	*ssh.Client
	gone chan struct{} // closed when the connection has ended
}

func newSSHTransport(spec Spec, user string, ids *identities, hk *hostKeys, timeout, keepAlive time.Duration, log *slog.Logger) *sshTransport {
	addr := spec.Address()
	t := &sshTransport{spec: spec, user: user, ids: ids, timeout: timeout, keepAlive: keepAlive, log: log}
	t.config = &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(ids.signers...)},
		HostKeyCallback:   hk.verify(spec.Host, spec.Port),
		HostKeyAlgorithms: hk.algorithmsFor(addr),
		Timeout:           timeout,
		ClientVersion:     "SSH-2.0-jetway",
	}
	return t
}

// remote names the SSH endpoint for messages.
func (t *sshTransport) remote() string {
	return t.user + "@" + hostPort(t.spec.Host, t.spec.Port)
}

func (t *sshTransport) socketPath() string {
	if t.spec.Path != "" {
		return t.spec.Path
	}
	return DefaultLocalSocket
}

// connection returns the live SSH connection, dialing one if there is none.
func (t *sshTransport) connection(ctx context.Context) (*liveClient, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, net.ErrClosed
	}
	if t.live != nil {
		select {
		case <-t.live.gone:
			t.live = nil
		default:
			return t.live, nil
		}
	}
	c, err := t.handshake(ctx)
	if err != nil {
		return nil, err
	}
	live := &liveClient{Client: c, gone: make(chan struct{})}
	go func() {
		err := c.Wait()
		t.log.Debug("ssh connection ended", "remote", t.remote(), "err", err)
		close(live.gone)
	}()
	if t.keepAlive > 0 {
		go t.keepConnectionAlive(live)
	}
	t.live = live
	return live, nil
}

func (t *sshTransport) handshake(ctx context.Context) (*ssh.Client, error) {
	addr := t.spec.Address()
	conn, err := dialTCP(ctx, addr, t.timeout, t.check)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	raw := conn // the closure must not read conn while it is rewrapped below
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn = withQuickAck(conn)
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, t.config)
	if err != nil {
		conn.Close()
		return nil, t.classifyHandshakeError(ctx, addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	t.log.Debug("ssh connected", "remote", t.remote(), "server", string(cc.ServerVersion()))
	return ssh.NewClient(cc, chans, reqs), nil
}

func (t *sshTransport) classifyHandshakeError(ctx context.Context, addr string, err error) error {
	var (
		unknown *UnknownHostKeyError
		changed *HostKeyChangedError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &unknown), errors.As(err, &changed):
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &UnreachableError{Addr: addr, Reason: "SSH handshake timed out", Err: err}
	case ctx.Err() != nil:
		return &UnreachableError{Addr: addr, Reason: "SSH handshake did not finish", Err: context.Cause(ctx)}
	case errors.As(err, &netErr) && netErr.Timeout():
		return &UnreachableError{Addr: addr, Reason: fmt.Sprintf("SSH handshake timed out after %s", t.timeout), Err: err}
	// x/crypto/ssh has no typed client-side authentication error; this text
	// is the only signal it gives.
	case strings.Contains(err.Error(), "unable to authenticate"):
		return &AuthError{User: t.user, Addr: addr, Tried: t.ids.names, Err: err}
	case errors.Is(err, io.EOF):
		return &UnreachableError{Addr: addr, Reason: "the server closed the connection during the SSH handshake (is this an SSH server, and does it accept this client?)", Err: err}
	}
	return &UnreachableError{Addr: addr, Reason: "SSH handshake failed", Err: err}
}

// keepConnectionAlive closes a connection whose server stopped answering, so
// that every read on it fails instead of hanging.
func (t *sshTransport) keepConnectionAlive(live *liveClient) {
	ticker := time.NewTicker(t.keepAlive)
	defer ticker.Stop()
	for {
		select {
		case <-live.gone:
			return
		case <-ticker.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := live.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		timer := time.NewTimer(t.keepAlive)
		select {
		case err := <-replied:
			timer.Stop()
			if err != nil {
				live.Close()
				return
			}
		case <-timer.C:
			t.log.Warn("ssh server stopped answering; closing the connection", "remote", t.remote(), "after", t.keepAlive)
			live.Close()
			return
		case <-live.gone:
			timer.Stop()
			return
		}
	}
}

// DialContext opens a connection to the remote Docker socket.
func (t *sshTransport) DialContext(ctx context.Context) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		live, err := t.connection(ctx)
		if err != nil {
			return nil, err
		}
		conn, err := t.openDocker(ctx, live)
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, io.EOF) {
			// The connection is going away; its end is noticed a moment
			// after its channels fail.
			select {
			case <-live.gone:
			case <-time.After(time.Second):
			}
		}
		select {
		case <-live.gone:
			if attempt == 0 && ctx.Err() == nil {
				t.log.Info("ssh connection dropped; reconnecting", "remote", t.remote())
				continue
			}
			return nil, &UnreachableError{Addr: t.spec.Address(), Reason: "the SSH connection dropped", Err: err}
		default:
			return nil, err
		}
	}
}

func (t *sshTransport) openDocker(ctx context.Context, live *liveClient) (net.Conn, error) {
	switch t.mode.Load() {
	case modeStreamLocal:
		return t.openStreamLocal(ctx, live)
	case modeDialStdio:
		return t.openDialStdio(ctx, live)
	}
	conn, err := t.openStreamLocal(ctx, live)
	if err == nil {
		t.mode.Store(modeStreamLocal)
		return conn, nil
	}
	var openErr *ssh.OpenChannelError
	if !errors.As(err, &openErr) {
		return nil, err
	}
	// sshd answers "connect failed" both when stream-local forwarding is
	// forbidden and when the socket cannot be opened, so look at the socket.
	diag := t.diagnoseSocket(ctx, live)
	switch {
	case diag == socketMissing && t.spec.Path == "",
		diag == socketAccessible:
		// The remote docker CLI may know a socket we don't (its
		// DOCKER_HOST), or forwarding is forbidden: let it connect.
		t.log.Debug("stream-local forwarding failed; falling back to docker system dial-stdio", "remote", t.remote(), "reason", openErr.Error())
		conn, err := t.openDialStdio(ctx, live)
		if err == nil {
			t.mode.Store(modeDialStdio)
		}
		return conn, err
	}
	return nil, &SocketError{Path: t.socketPath(), Remote: t.remote(), Problem: diag.problem(t.user), Err: openErr}
}

// socketState is what a shell test on the remote host found at the socket.
type socketState string

const (
	socketMissing    socketState = "missing"
	socketNotSocket  socketState = "notsocket"
	socketDenied     socketState = "denied"
	socketAccessible socketState = "accessible"
	socketUnknown    socketState = ""
)

func (s socketState) problem(user string) string {
	switch s {
	case socketMissing:
		return "no such file (is dockerd running, and is this its socket?)"
	case socketNotSocket:
		return "exists but is not a unix socket"
	case socketDenied:
		return fmt.Sprintf("permission denied for user %q", user)
	case socketAccessible:
		return "connection refused (dockerd is not listening on it)"
	}
	return "sshd could not connect to it"
}

// diagnoseSocket runs a POSIX shell test on the remote side: sshd reports a
// missing socket, a permission problem and forbidden forwarding alike.
func (t *sshTransport) diagnoseSocket(ctx context.Context, live *liveClient) socketState {
	q := shellQuote(t.socketPath())
	script := fmt.Sprintf(`if [ ! -e %[1]s ]; then echo missing; elif [ ! -S %[1]s ]; then echo notsocket; elif [ ! -r %[1]s ] || [ ! -w %[1]s ]; then echo denied; else echo accessible; fi`, q)
	out, err := runRemote(ctx, live.Client, script)
	if err != nil {
		return socketUnknown
	}
	return socketState(strings.TrimSpace(string(out)))
}

type dialResult struct {
	conn net.Conn
	err  error
}

// openStreamLocal opens a direct-streamlocal@openssh.com channel. Opening a
// channel cannot be cancelled in x/crypto/ssh, so a cancelled caller returns
// at once and the channel, should it still open, is closed.
func (t *sshTransport) openStreamLocal(ctx context.Context, live *liveClient) (net.Conn, error) {
	done := make(chan dialResult, 1)
	go func() {
		c, err := live.Dial("unix", t.socketPath())
		done <- dialResult{c, err}
	}()
	select {
	case r := <-done:
		return r.conn, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, &UnreachableError{Addr: t.spec.Address(), Reason: "opening an SSH channel did not finish", Err: context.Cause(ctx)}
	}
}

func runRemote(ctx context.Context, c *ssh.Client, cmd string) ([]byte, error) {
	s, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	return s.Output(cmd)
}

func (t *sshTransport) openDialStdio(ctx context.Context, live *liveClient) (net.Conn, error) {
	cmd := "docker system dial-stdio"
	if t.spec.Path != "" {
		cmd = "docker --host " + shellQuote("unix://"+t.spec.Path) + " system dial-stdio"
	}
	conn, err := startStdioConn(ctx, live.Client, cmd, t.spec.Address())
	if err != nil {
		return nil, &UnreachableError{Addr: t.spec.Address(), Reason: "could not start `" + cmd + "` over SSH", Err: err}
	}
	return conn, nil
}

// Close ends the SSH connection; open channels fail.
func (t *sshTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.ids.close()
	if t.live != nil {
		err := t.live.Close()
		t.live = nil
		return err
	}
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
