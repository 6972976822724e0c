package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// Options configure how a Docker host is reached. The library reads no
// environment variables: the CLI fills these from flags and the environment.
type Options struct {
	// Host is a DOCKER_HOST value; empty means the local default socket.
	Host string
	// Home is the home directory whose ~/.ssh and ~/.docker hold the defaults.
	Home string
	// User is the SSH user when the URL names none.
	User string
	// Identities are private key files; empty means ~/.ssh/id_rsa,
	// id_ed25519 and id_ecdsa, those that exist.
	Identities []string
	// KnownHosts are known_hosts files; empty means ~/.ssh/known_hosts.
	KnownHosts []string
	// AgentSocket is SSH_AUTH_SOCK; its keys are offered after the files.
	AgentSocket string
	// TLSVerify and CertPath mean DOCKER_TLS_VERIFY and DOCKER_CERT_PATH
	// (default ~/.docker) for tcp:// hosts.
	TLSVerify bool
	CertPath  string
	// Timeout bounds connecting (TCP, SSH or TLS handshake, channel open).
	// Default 10s.
	Timeout time.Duration
	// KeepAlive is how often an SSH connection is probed; a server that does
	// not answer within the same interval is disconnected. Default 15s.
	KeepAlive time.Duration
	// CheckAddress, when set, vets every address dialled over TCP (the
	// daemon's, or its sshd's) just before connecting.
	CheckAddress AddressCheck
	Logger       *slog.Logger
}

// Host is an open connection to one Docker daemon. Its DialContext is safe
// for concurrent use; for ssh:// all dials share one SSH connection.
type Host struct {
	spec    Spec
	dial    func(ctx context.Context) (net.Conn, error)
	closer  io.Closer
	ssh     *sshTransport // for ssh:// hosts only
	timeout time.Duration
	http    *http.Client
}

// Open prepares a connection to the Docker host in opts. For ssh:// it
// connects at once, so that key and host-key problems surface here.
func Open(ctx context.Context, opts Options) (*Host, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	spec, err := ParseSpec(opts.Host, opts.TLSVerify)
	if err != nil {
		return nil, err
	}
	h := &Host{spec: spec, timeout: opts.Timeout}
	switch spec.Scheme {
	case SchemeUnix:
		h.dial = func(ctx context.Context) (net.Conn, error) { return dialUnix(ctx, spec.Path, opts.Timeout) }
	case SchemeTCP:
		if !opts.TLSVerify {
			h.dial = func(ctx context.Context) (net.Conn, error) {
				return dialTCP(ctx, spec.Address(), opts.Timeout, opts.CheckAddress)
			}
			break
		}
		certPath := opts.CertPath
		if certPath == "" {
			certPath = filepath.Join(opts.Home, ".docker")
		}
		cfg, err := loadTLSConfig(certPath, spec.Host)
		if err != nil {
			return nil, err
		}
		h.dial = func(ctx context.Context) (net.Conn, error) {
			return dialTLS(ctx, spec.Address(), cfg.Clone(), opts.Timeout, opts.CheckAddress)
		}
	case SchemeSSH:
		t, err := openSSH(ctx, spec, opts)
		if err != nil {
			return nil, err
		}
		h.dial, h.closer, h.ssh = t.DialContext, t, t
	}
	h.http = &http.Client{Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return h.dial(ctx) },
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	return h, nil
}

func openSSH(ctx context.Context, spec Spec, opts Options) (*sshTransport, error) {
	user := spec.User
	if user == "" {
		user = opts.User
	}
	if user == "" {
		return nil, fmt.Errorf("no SSH user: write it into DOCKER_HOST as ssh://USER@%s", spec.Host)
	}
	ids, err := loadIdentities(opts.Identities, opts.Home, opts.AgentSocket)
	if err != nil {
		return nil, err
	}
	knownFiles := opts.KnownHosts
	if len(knownFiles) == 0 {
		knownFiles = []string{filepath.Join(opts.Home, ".ssh", "known_hosts")}
	}
	hk, err := loadHostKeys(knownFiles)
	if err != nil {
		ids.close()
		return nil, err
	}
	if len(ids.signers) == 0 {
		ids.close()
		return nil, &AuthError{User: user, Addr: spec.Address(), Err: errors.New("no private key")}
	}
	t := newSSHTransport(spec, user, ids, hk, opts.Timeout, opts.KeepAlive, opts.Logger)
	t.check = opts.CheckAddress
	cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if _, err := t.connection(cctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Spec is the parsed DOCKER_HOST.
func (h *Host) Spec() Spec { return h.spec }

// DialContext opens a new connection to the daemon's API. network and addr
// are ignored, so it plugs into http.Transport and the Docker client.
func (h *Host) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	return h.dial(ctx)
}

// NewClient returns a Docker Engine API client that dials through h and
// negotiates the API version with the daemon.
func (h *Host) NewClient() (*client.Client, error) {
	return client.NewClientWithOpts(
		client.WithHost("http://docker.jetway"),
		client.WithDialContext(h.DialContext),
		client.WithAPIVersionNegotiation(),
	)
}

// Close ends the host's connection; open API connections fail.
func (h *Host) Close() error {
	h.http.CloseIdleConnections()
	if h.closer != nil {
		return h.closer.Close()
	}
	return nil
}

// PingResult is what GET /_ping tells about the daemon.
type PingResult struct {
	APIVersion string
	OSType     string
	Latency    time.Duration
}

// Ping sends GET /_ping over a kept-alive connection and checks that the
// answer comes from a Docker daemon.
func (h *Host) Ping(ctx context.Context) (PingResult, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker.jetway/_ping", nil)
	if err != nil {
		return PingResult{}, err
	}
	start := time.Now()
	resp, err := h.http.Do(req)
	if err != nil {
		return PingResult{}, h.explain(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	latency := time.Since(start)
	api := resp.Header.Get("Api-Version")
	if api == "" && strings.Contains(string(body), "HTTP request to an HTTPS server") {
		return PingResult{}, &NotDockerError{Addr: h.spec.String(), Detail: "it expects TLS; set DOCKER_TLS_VERIFY=1 with the TLS files (DOCKER_TLS_CA, DOCKER_TLS_CERT, DOCKER_TLS_KEY)"}
	}
	if api == "" {
		return PingResult{}, &NotDockerError{Addr: h.spec.String(), Detail: fmt.Sprintf("GET /_ping answered %s without an Api-Version header (body %q)", resp.Status, truncate(string(body), 80))}
	}
	if resp.StatusCode != http.StatusOK {
		return PingResult{}, fmt.Errorf("docker daemon at %s is not healthy: /_ping answered %s: %s", h.spec, resp.Status, truncate(string(body), 200))
	}
	return PingResult{APIVersion: api, OSType: resp.Header.Get("Ostype"), Latency: latency}, nil
}

// explain keeps typed dial errors and words the rest for the user.
func (h *Host) explain(err error) error {
	if IsUnreachable(err) {
		var target error = err
		for {
			u := errors.Unwrap(target)
			if u == nil || !IsUnreachable(u) {
				return target
			}
			target = u
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "HTTP/1.x transport connection broken"):
		detail := "it does not speak HTTP"
		if strings.Contains(msg, `\x15\x03`) {
			detail = "it speaks TLS; set DOCKER_TLS_VERIFY=1 with the TLS files"
		}
		return &NotDockerError{Addr: h.spec.String(), Detail: detail}
	case errors.Is(err, context.DeadlineExceeded):
		return &UnreachableError{Addr: h.spec.String(), Reason: fmt.Sprintf("no answer within %s", h.timeout), Err: err}
	case errors.Is(err, io.EOF), strings.Contains(msg, "EOF"):
		return &NotDockerError{Addr: h.spec.String(), Detail: "it closed the connection without an HTTP answer"}
	}
	return fmt.Errorf("talking to the docker daemon at %s: %w", h.spec, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
