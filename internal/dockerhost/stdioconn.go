package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// stdioConn is a net.Conn over the stdin and stdout of a remote command
// (`docker system dial-stdio`). When the command ends with an error, reads
// return that error with the tail of its stderr, so "permission denied" or
// "command not found" reach the user instead of a bare EOF.
type stdioConn struct {
	session *ssh.Session
	stdin   io.WriteCloser
	stdout  io.Reader
	stderr  *tailBuffer
	addr    string

	waitOnce sync.Once
	waitErr  error
	closed   chan struct{}
	once     sync.Once
}

func startStdioConn(ctx context.Context, c *ssh.Client, cmd, addr string) (*stdioConn, error) {
	s, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	tail := &tailBuffer{max: 4096}
	s.Stderr = tail
	if err := s.Start(cmd); err != nil {
		s.Close()
		return nil, err
	}
	return &stdioConn{session: s, stdin: stdin, stdout: stdout, stderr: tail, addr: addr, closed: make(chan struct{})}, nil
}

func (c *stdioConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if errors.Is(err, io.EOF) {
		if werr := c.wait(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// wait collects the command's exit status after stdout ended.
func (c *stdioConn) wait() error {
	c.waitOnce.Do(func() {
		done := make(chan error, 1)
		go func() { done <- c.session.Wait() }()
		select {
		case err := <-done:
			var exit *ssh.ExitError
			if errors.As(err, &exit) {
				c.waitErr = c.remoteError(fmt.Sprintf("exited with status %d", exit.ExitStatus()))
			}
		case <-time.After(2 * time.Second):
		case <-c.closed:
		}
	})
	return c.waitErr
}

func (c *stdioConn) remoteError(status string) error {
	msg := strings.TrimSpace(c.stderr.String())
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "permission denied"):
		return &SocketError{Path: "(remote default)", Remote: c.addr, Problem: "permission denied: " + msg}
	case strings.Contains(lower, "command not found"), strings.Contains(lower, "not found"):
		return &UnreachableError{Addr: c.addr, Reason: "the remote host has no docker CLI for `docker system dial-stdio`, and its sshd forbids stream-local forwarding; install docker there or set AllowStreamLocalForwarding yes", Err: errors.New(msg)}
	case strings.Contains(lower, "cannot connect"), strings.Contains(lower, "no such file"):
		return &SocketError{Path: "(remote default)", Remote: c.addr, Problem: msg}
	}
	return fmt.Errorf("remote `docker system dial-stdio` %s: %s", status, msg)
}

func (c *stdioConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// CloseWrite half-closes, as hijacked Docker API streams need.
func (c *stdioConn) CloseWrite() error { return c.stdin.Close() }

func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	c.stdin.Close()
	return c.session.Close()
}

func (c *stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (c *stdioConn) SetDeadline(t time.Time) error      { return errNoDeadline }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return errNoDeadline }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return errNoDeadline }

var errNoDeadline = errors.New("deadlines are not supported on an SSH exec channel")

type stdioAddr struct{}

func (stdioAddr) Network() string { return "ssh-exec" }
func (stdioAddr) String() string  { return "docker system dial-stdio" }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
