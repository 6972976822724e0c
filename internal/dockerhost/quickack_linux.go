package dockerhost

import (
	"net"
	"syscall"
)

// quickAckConn re-arms TCP_QUICKACK after every read.
//
// Why: OpenSSH's sshd leaves Nagle's algorithm on for sessions without a
// terminal, so it holds a small packet (the confirmation of a new channel)
// until its previous small packet is acknowledged, while Linux delays that
// acknowledgement by up to 40 ms. Every Docker API connection is a new
// channel, so back-to-back docker commands paid ~40 ms each. Linux clears
// TCP_QUICKACK by itself, hence setting it again after each read.
type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func withQuickAck(c net.Conn) net.Conn {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{TCPConn: tcp, raw: raw}
	q.arm()
	return q
}

func (q *quickAckConn) arm() {
	_ = q.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

func (q *quickAckConn) Read(p []byte) (int, error) {
	n, err := q.TCPConn.Read(p)
	q.arm()
	return n, err
}
