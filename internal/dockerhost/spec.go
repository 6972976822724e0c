package dockerhost

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultLocalSocket is where a Docker daemon listens when DOCKER_HOST is empty.
const DefaultLocalSocket = "/var/run/docker.sock"

// Scheme names a transport to a Docker daemon.
type Scheme string

const (
	SchemeUnix Scheme = "unix"
	SchemeTCP  Scheme = "tcp"
	SchemeSSH  Scheme = "ssh"
)

// Spec is a parsed DOCKER_HOST value. It holds no credentials beyond the
// SSH user name, so it is safe to print.
type Spec struct {
	Scheme Scheme
	// User is the SSH user; empty means the caller's default user.
	User string
	// Host and Port address the daemon (tcp) or the SSH server (ssh).
	Host string
	Port int
	// Path is the unix socket: local for unix://, remote for ssh://.
	// For ssh:// it is empty when the URL names none, which means the remote
	// side's default socket.
	Path string
}

// ParseSpec parses a DOCKER_HOST value with the docker CLI's meanings:
// "" and unix:///path, tcp://host[:port], ssh://[user@]host[:port][/socket].
// tlsDefaultPort chooses 2376 rather than 2375 when a tcp:// URL omits the port,
// as the docker CLI does when TLS is on.
func ParseSpec(raw string, tls bool) (Spec, error) {
	spec, err := parseSpec(strings.TrimSpace(raw), tls)
	if err != nil {
		return Spec{}, fmt.Errorf("invalid DOCKER_HOST %q: %w", raw, err)
	}
	return spec, nil
}

func parseSpec(raw string, tls bool) (Spec, error) {
	if raw == "" {
		return Spec{Scheme: SchemeUnix, Path: DefaultLocalSocket}, nil
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Spec{}, fmt.Errorf("missing scheme: write unix:///path/docker.sock, tcp://host:2376 or ssh://user@host")
	}
	switch Scheme(strings.ToLower(scheme)) {
	case SchemeUnix:
		if rest == "" || !strings.HasPrefix(rest, "/") {
			return Spec{}, fmt.Errorf("unix:// needs an absolute socket path, as in unix:///var/run/docker.sock")
		}
		return Spec{Scheme: SchemeUnix, Path: rest}, nil
	case SchemeTCP:
		port := 2375
		if tls {
			port = 2376
		}
		return parseNetworkURL(SchemeTCP, raw, port)
	case SchemeSSH:
		return parseNetworkURL(SchemeSSH, raw, 22)
	case "npipe", "fd":
		return Spec{}, fmt.Errorf("scheme %q is not supported on a runner; use unix://, tcp:// or ssh://", scheme)
	default:
		return Spec{}, fmt.Errorf("unknown scheme %q; use unix://, tcp:// or ssh://", scheme)
	}
}

func parseNetworkURL(scheme Scheme, raw string, defaultPort int) (Spec, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Spec{}, err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Spec{}, fmt.Errorf("a %s:// host takes no query or fragment", scheme)
	}
	spec := Spec{Scheme: scheme, Host: u.Hostname(), Port: defaultPort}
	if spec.Host == "" {
		return Spec{}, fmt.Errorf("no host name")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Spec{}, fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
		spec.Port = n
	}
	if u.User != nil {
		if scheme != SchemeSSH {
			return Spec{}, fmt.Errorf("a tcp:// host takes no user name")
		}
		if _, has := u.User.Password(); has {
			return Spec{}, fmt.Errorf("passwords in ssh:// URLs are not supported; use a key (JETS_SSH_KEY)")
		}
		spec.User = u.User.Username()
	}
	switch {
	case scheme == SchemeTCP && u.Path != "" && u.Path != "/":
		return Spec{}, fmt.Errorf("a tcp:// host takes no path")
	case scheme == SchemeSSH && u.Path != "" && u.Path != "/":
		spec.Path = u.Path
	}
	return spec, nil
}

// Address is host:port for network schemes.
func (s Spec) Address() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// String renders the spec back as a DOCKER_HOST value.
func (s Spec) String() string {
	switch s.Scheme {
	case SchemeUnix:
		return "unix://" + s.Path
	case SchemeTCP:
		return "tcp://" + s.Address()
	case SchemeSSH:
		u := url.URL{Scheme: "ssh", Host: s.Host, Path: s.Path}
		if s.Port != 22 {
			u.Host = s.Address()
		}
		if s.User != "" {
			u.User = url.User(s.User)
		}
		return u.String()
	}
	return string(s.Scheme) + "://?"
}
