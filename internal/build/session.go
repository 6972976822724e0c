package build

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/docker/docker/api/types/registry"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/session/filesync"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// newSession is the session the daemon calls back into during a build:
// file sync of the workspace (as the "context" and "dockerfile" dirs the
// Dockerfile frontend asks for), build secrets, SSH agents and registry
// credentials. The shared key names the daemon's copy of the context, so
// builds with the same key send only what changed since the last one.
func newSession(ctx context.Context, wfs *workspaceFS, opts Options) (*session.Session, error) {
	s, err := session.NewSession(ctx, opts.SharedKey)
	if err != nil {
		return nil, err
	}
	s.Allow(filesync.NewFSSyncProvider(filesync.StaticDirSource{"context": wfs, "dockerfile": wfs}))
	// Always served, so that a Dockerfile asking for an unknown id gets
	// BuildKit's "secret not found" rather than a missing service.
	s.Allow(secretsprovider.FromMap(opts.Secrets))
	if len(opts.SSH) > 0 {
		p, err := newAgentProvider(opts.SSH)
		if err != nil {
			return nil, err
		}
		s.Allow(p)
	}
	s.Allow(&authProvider{auth: opts.Auth})
	return s, nil
}

// agentProvider serves in-memory SSH agents, one per id, for RUN
// --mount=type=ssh. The keys never touch a disk: the daemon gets a socket
// in the build container that forwards agent requests over the session,
// and the agent signs; the private key stays in this process.
type agentProvider struct {
	sshforward.UnimplementedSSHServer
	agents map[string]agent.Agent
}

func newAgentProvider(keys map[string][]byte) (*agentProvider, error) {
	p := &agentProvider{agents: map[string]agent.Agent{}}
	for id, pem := range keys {
		k, err := ssh.ParseRawPrivateKey(pem)
		if err != nil {
			return nil, fmt.Errorf("image.ssh %s: the key is not a private key that ssh can read (a passphrase is not supported): %w", id, err)
		}
		ring := agent.NewKeyring()
		if err := ring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			return nil, fmt.Errorf("image.ssh %s: %w", id, err)
		}
		p.agents[id] = readOnlyAgent{ring.(agent.ExtendedAgent)}
	}
	return p, nil
}

func (p *agentProvider) Register(s *grpc.Server) { sshforward.RegisterSSHServer(s, p) }

func (p *agentProvider) lookup(id string) (agent.Agent, error) {
	if id == "" {
		id = sshforward.DefaultID
	}
	a, ok := p.agents[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no ssh key %q for this build; list it in image.ssh", id)
	}
	return a, nil
}

func (p *agentProvider) CheckAgent(_ context.Context, req *sshforward.CheckAgentRequest) (*sshforward.CheckAgentResponse, error) {
	if _, err := p.lookup(req.ID); err != nil {
		return nil, err
	}
	return &sshforward.CheckAgentResponse{}, nil
}

func (p *agentProvider) ForwardAgent(stream grpc.BidiStreamingServer[sshforward.BytesMessage, sshforward.BytesMessage]) error {
	id := ""
	if md, ok := metadata.FromIncomingContext(stream.Context()); ok {
		if v := md.Get(sshforward.KeySSHID); len(v) > 0 {
			id = v[0]
		}
	}
	a, err := p.lookup(id)
	if err != nil {
		return err
	}
	c1, c2 := net.Pipe()
	go func() {
		_ = agent.ServeAgent(a, c1)
		c1.Close()
	}()
	return sshforward.Copy(stream.Context(), c2, stream, nil)
}

// readOnlyAgent refuses changes: a build step may use the key, not swap
// it or lock the agent for the steps after it. It is an ExtendedAgent so
// that RSA keys sign with SHA-2 (OpenSSH refuses ssh-rsa SHA-1 signatures).
type readOnlyAgent struct{ agent.ExtendedAgent }

func (readOnlyAgent) Add(agent.AddedKey) error       { return errReadOnlyAgent }
func (readOnlyAgent) Remove(ssh.PublicKey) error     { return errReadOnlyAgent }
func (readOnlyAgent) RemoveAll() error               { return errReadOnlyAgent }
func (readOnlyAgent) Lock([]byte) error              { return errReadOnlyAgent }
func (readOnlyAgent) Unlock([]byte) error            { return errReadOnlyAgent }
func (readOnlyAgent) Signers() ([]ssh.Signer, error) { return nil, errReadOnlyAgent }
func (readOnlyAgent) Extension(string, []byte) ([]byte, error) {
	return nil, agent.ErrExtensionUnsupported
}

var errReadOnlyAgent = fmt.Errorf("the build's ssh agent is read-only")

// authProvider answers the daemon's questions for registry credentials
// (pulls of base images, cache imports) with the run's login. Token
// authorities are not offered, so the daemon fetches tokens itself with
// these credentials.
type authProvider struct {
	auth.UnimplementedAuthServer
	auth map[string]registry.AuthConfig
}

func (p *authProvider) Register(s *grpc.Server) { auth.RegisterAuthServer(s, p) }

func (p *authProvider) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	host := req.Host
	for server, a := range p.auth {
		if sameRegistry(server, host) {
			return &auth.CredentialsResponse{Username: a.Username, Secret: a.Password}, nil
		}
	}
	return &auth.CredentialsResponse{}, nil
}

// sameRegistry compares a login's server address (which may be a URL, or
// Docker Hub's historic index address) with the host the daemon asks for.
func sameRegistry(server, host string) bool {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "index.docker.io", "docker.io", "registry-1.docker.io":
		return host == "registry-1.docker.io" || host == "docker.io" || host == "index.docker.io"
	}
	return s == host
}

// countingConn counts the bytes the runner sends over the session: the
// file sync's share of the traffic to the Docker host.
type countingConn struct {
	net.Conn
	sent *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(int64(n))
	return n, err
}
