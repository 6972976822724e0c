package dockerhost

import (
	"errors"
	"fmt"
	"strings"
)

// The error types below are the outcomes that callers branch on (exit codes,
// hints). Each message says what happened and what to do about it.

// UnreachableError means no connection to the host could be made: DNS,
// refused, unreachable network or timeout.
type UnreachableError struct {
	Addr   string
	Reason string // "host name not found", "connection refused", "timed out", ...
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %s (%v); check the host name and port in DOCKER_HOST and that the host is up and accepts connections from here", e.Addr, e.Reason, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// AuthError means the SSH server refused every key that was offered.
type AuthError struct {
	User  string
	Addr  string
	Tried []string // key files and agent keys offered, in order
	Err   error
}

func (e *AuthError) Error() string {
	tried := "no keys at all (no identity file found and no ssh-agent)"
	if len(e.Tried) > 0 {
		tried = strings.Join(e.Tried, ", ")
	}
	return fmt.Sprintf("ssh authentication as %q to %s failed; tried %s. Add the matching public key to %s's ~/.ssh/authorized_keys on the Docker host, or set JETS_SSH_KEY (or --identity) to the right private key",
		e.User, e.Addr, tried, e.User)
}
func (e *AuthError) Unwrap() error { return e.Err }

// UnknownHostKeyError means known_hosts has no key for the host. jetway never
// trusts a key on first use: the user must add it.
type UnknownHostKeyError struct {
	Host        string
	Port        int
	KeyType     string // as in the key, e.g. ssh-ed25519
	Fingerprint string // SHA256:...
	KnownHosts  []string
}

// KeyscanCommand is the command whose output belongs in JETS_SSH_KNOWN.
func (e *UnknownHostKeyError) KeyscanCommand() string {
	return keyscanCommand(e.Host, e.Port, e.KeyType)
}

func (e *UnknownHostKeyError) Error() string {
	return fmt.Sprintf("host key of %s is not known (%s key %s; looked in %s). Verify that fingerprint with the host's administrator, then add the output of\n    %s\nto JETS_SSH_KNOWN (or to the known_hosts file)",
		hostPort(e.Host, e.Port), e.KeyType, e.Fingerprint, listOrNone(e.KnownHosts), e.KeyscanCommand())
}

// HostKeyChangedError means the host presented a key other than the one
// known_hosts holds for it.
type HostKeyChangedError struct {
	Host        string
	Port        int
	KeyType     string
	Fingerprint string
	Known       []KnownKey
}

// KnownKey is one key that known_hosts holds for a host.
type KnownKey struct {
	Type        string
	Fingerprint string
	Where       string // file:line
}

func (e *HostKeyChangedError) Error() string {
	var known []string
	for _, k := range e.Known {
		known = append(known, fmt.Sprintf("%s %s (%s)", k.Type, k.Fingerprint, k.Where))
	}
	return fmt.Sprintf("HOST KEY OF %s HAS CHANGED: it presented %s %s, but known_hosts holds %s. Someone may be intercepting the connection (an attack), or the host was reinstalled. Do not continue until the host's administrator confirms the new fingerprint; then replace the host's line in JETS_SSH_KNOWN with the output of\n    %s",
		hostPort(e.Host, e.Port), e.KeyType, e.Fingerprint, strings.Join(known, "; "), keyscanCommand(e.Host, e.Port, e.KeyType))
}

// SocketError means the Docker socket could not be opened: missing, not a
// socket, or not accessible to the user.
type SocketError struct {
	Path    string
	Remote  string // "" for a local socket, else user@host
	Problem string
	Err     error
}

func (e *SocketError) Error() string {
	where := "on this machine"
	if e.Remote != "" {
		where = "on " + e.Remote
	}
	hint := "check the socket path in DOCKER_HOST and that dockerd is running"
	if strings.Contains(e.Problem, "permission") {
		hint = "give the user access to the socket (for example the docker group) or connect as a user who has it"
	}
	msg := fmt.Sprintf("docker socket %s %s: %s; %s", e.Path, where, e.Problem, hint)
	if e.Err != nil {
		msg += fmt.Sprintf(" (%v)", e.Err)
	}
	return msg
}
func (e *SocketError) Unwrap() error { return e.Err }

// NotDockerError means something answered, but not a Docker daemon.
type NotDockerError struct {
	Addr   string
	Detail string
}

func (e *NotDockerError) Error() string {
	return fmt.Sprintf("%s did not answer like a Docker daemon: %s; check that DOCKER_HOST points at the Docker API", e.Addr, e.Detail)
}

// TLSError is a problem with the TLS files or the TLS handshake of a tcp:// host.
type TLSError struct {
	Problem string
	Err     error
}

func (e *TLSError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("TLS: %s: %v", e.Problem, e.Err)
	}
	return "TLS: " + e.Problem
}
func (e *TLSError) Unwrap() error { return e.Err }

// IsUnreachable tells whether err means the Docker host could not be reached
// or spoken to at all (as opposed to a failed Docker operation).
func IsUnreachable(err error) bool {
	var (
		u *UnreachableError
		a *AuthError
		k *UnknownHostKeyError
		c *HostKeyChangedError
		s *SocketError
		n *NotDockerError
		t *TLSError
	)
	return errors.As(err, &u) || errors.As(err, &a) || errors.As(err, &k) || errors.As(err, &c) ||
		errors.As(err, &s) || errors.As(err, &n) || errors.As(err, &t)
}

func keyscanCommand(host string, port int, keyType string) string {
	t := keyscanType(keyType)
	if port != 0 && port != 22 {
		return fmt.Sprintf("ssh-keyscan -H -t %s -p %d %s", t, port, host)
	}
	return fmt.Sprintf("ssh-keyscan -H -t %s %s", t, host)
}

// keyscanType maps a key or algorithm name to ssh-keyscan's -t word.
func keyscanType(keyType string) string {
	switch {
	case strings.Contains(keyType, "ed25519"):
		return "ed25519"
	case strings.Contains(keyType, "ecdsa"):
		return "ecdsa"
	case strings.Contains(keyType, "rsa"):
		return "rsa"
	}
	return keyType
}

func hostPort(host string, port int) string {
	if port == 0 || port == 22 {
		return host
	}
	return fmt.Sprintf("[%s]:%d", host, port)
}

func listOrNone(files []string) string {
	if len(files) == 0 {
		return "no known_hosts file"
	}
	return strings.Join(files, ", ")
}
