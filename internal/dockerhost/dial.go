package dockerhost

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// classifyDialError turns a failed TCP or unix dial into a typed error whose
// message says what went wrong.
func classifyDialError(addr string, err error) error {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return &UnreachableError{Addr: addr, Reason: "host name not found", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &UnreachableError{Addr: addr, Reason: "connection refused (nothing listens on that port)", Err: err}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &UnreachableError{Addr: addr, Reason: "no route to the host", Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &UnreachableError{Addr: addr, Reason: "connection timed out", Err: err}
	}
	return &UnreachableError{Addr: addr, Reason: "connection failed", Err: err}
}

func dialUnix(ctx context.Context, path string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		return conn, nil
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, &SocketError{Path: path, Problem: "no such file (is dockerd running, and is this its socket?)", Err: err}
	case errors.Is(err, os.ErrPermission):
		return nil, &SocketError{Path: path, Problem: "permission denied", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, &SocketError{Path: path, Problem: "connection refused (dockerd is not listening on it)", Err: err}
	}
	return nil, &SocketError{Path: path, Problem: "cannot connect", Err: err}
}

func dialTCP(ctx context.Context, addr string, timeout time.Duration, check AddressCheck) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second, Control: check.control()}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var refused *RefusedAddressError
		if errors.As(err, &refused) {
			return nil, refused
		}
		return nil, classifyDialError(addr, err)
	}
	return conn, nil
}

// AddressCheck vets each address a TCP connection to the Docker host (or
// its sshd) is about to connect to: the address actually dialled, after
// name resolution, so a name that resolves elsewhere the second time
// changes nothing.
type AddressCheck func(netip.Addr) error

// RefusedAddressError is an AddressCheck's refusal.
type RefusedAddressError struct {
	Addr netip.Addr
	Err  error
}

func (e *RefusedAddressError) Error() string { return e.Err.Error() }
func (e *RefusedAddressError) Unwrap() error { return e.Err }

func (check AddressCheck) control() func(network, address string, c syscall.RawConn) error {
	if check == nil {
		return nil
	}
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dialling %s: %w", address, err)
		}
		if err := check(ap.Addr().Unmap()); err != nil {
			return &RefusedAddressError{Addr: ap.Addr().Unmap(), Err: err}
		}
		return nil
	}
}

// loadTLSConfig reads ca.pem, cert.pem and key.pem from certPath, as the
// docker CLI does with DOCKER_TLS_VERIFY=1.
func loadTLSConfig(certPath, serverName string) (*tls.Config, error) {
	read := func(name string) ([]byte, error) {
		p := filepath.Join(certPath, name)
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, &TLSError{Problem: fmt.Sprintf("%s is missing; DOCKER_TLS_VERIFY=1 needs ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (%s); set DOCKER_TLS_CA, DOCKER_TLS_CERT and DOCKER_TLS_KEY for a run", p, certPath)}
		}
		if err != nil {
			return nil, &TLSError{Problem: "reading " + p, Err: err}
		}
		return b, nil
	}
	caPEM, err := read("ca.pem")
	if err != nil {
		return nil, err
	}
	certPEM, err := read("cert.pem")
	if err != nil {
		return nil, err
	}
	keyPEM, err := read("key.pem")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &TLSError{Problem: filepath.Join(certPath, "ca.pem") + " holds no PEM certificate"}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &TLSError{Problem: "cert.pem and key.pem in " + certPath + " are not a matching certificate and key", Err: err}
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

func dialTLS(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration, check AddressCheck) (net.Conn, error) {
	raw, err := dialTCP(ctx, addr, timeout, check)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, classifyTLSError(addr, err)
	}
	return conn, nil
}

func classifyTLSError(addr string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		alert     tls.AlertError
		recordErr tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		return &TLSError{Problem: fmt.Sprintf("the certificate of %s is not signed by ca.pem (wrong CA in DOCKER_TLS_CA?)", addr), Err: err}
	case errors.As(err, &hostErr):
		return &TLSError{Problem: fmt.Sprintf("the certificate of %s is not valid for that name; use the name or IP the certificate was issued for", addr), Err: err}
	case errors.As(err, &invalid):
		return &TLSError{Problem: fmt.Sprintf("the certificate of %s is not valid", addr), Err: err}
	case errors.As(err, &verify):
		return &TLSError{Problem: fmt.Sprintf("the certificate of %s could not be verified", addr), Err: err}
	case errors.As(err, &alert):
		return &TLSError{Problem: fmt.Sprintf("%s refused the TLS handshake (does it trust our cert.pem?)", addr), Err: err}
	case errors.As(err, &recordErr):
		return &NotDockerError{Addr: addr, Detail: "it does not speak TLS; unset DOCKER_TLS_VERIFY or use its TLS port"}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &UnreachableError{Addr: addr, Reason: "TLS handshake timed out", Err: err}
	}
	return &TLSError{Problem: fmt.Sprintf("handshake with %s failed", addr), Err: err}
}
