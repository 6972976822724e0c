package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/hosts"
)

// Health checks of the Docker hosts the server knows. Every
// hostCheckEvery the server checks each host with a fresh connection
// (ping, version, disk usage, free disk of the data root over ssh), under
// hostCheckTimeout: a host that stops answering, without even a reset, is
// found down within one interval plus the timeout (25 s by default). The
// choice of a run's host passes over hosts found down. Every replica
// checks; the store keeps the newest finding, so their writes agree.

const (
	defaultHostCheckInterval = 15 * time.Second
	// hostCheckTimeout bounds one check of one host, connecting included.
	hostCheckTimeout = 10 * time.Second
	// hostChecksAtOnce bounds the hosts checked at the same time.
	hostChecksAtOnce = 16
)

// checkHostsNow asks the checks for a round at once (a host was added or
// changed, a GC ran); a round already asked for is enough.
func (s *Server) checkHostsNow() {
	select {
	case s.hostsChanged <- struct{}{}:
	default:
	}
}

// watchHosts checks every host each interval, and when asked, until ctx
// ends.
func (s *Server) watchHosts(ctx context.Context) {
	if s.hostCheckEvery <= 0 {
		return
	}
	tick := time.NewTicker(s.hostCheckEvery)
	defer tick.Stop()
	for {
		s.checkHosts(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.hostsChanged:
		}
	}
}

// checkHosts checks every host once, several at a time, and returns when
// all are done.
func (s *Server) checkHosts(ctx context.Context) {
	list, err := s.runs.ListHosts(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("listing Docker hosts to check", "err", err)
		}
		return
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, hostChecksAtOnce)
	for _, h := range list {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.checkHost(ctx, h)
		}()
	}
	wg.Wait()
}

// checkHost checks one host and stores what it found, logging a host that
// goes up or down.
func (s *Server) checkHost(ctx context.Context, h api.DockerHost) {
	cctx, cancel := context.WithTimeout(ctx, hostCheckTimeout)
	defer cancel()
	st := s.probeHost(cctx, h)
	if ctx.Err() != nil {
		return // the server is stopping: what failed is not the host's
	}
	stored, changed, err := s.runs.RecordHostState(ctx, h.Name, st)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("recording a Docker host's state", "host", h.Name, "err", err)
		}
		return
	}
	if !changed {
		return
	}
	if stored.Up {
		s.log.Info("docker host up", "host", h.Name, "pool", h.Pool, "free", api.HumanBytes(stored.FreeBytes))
	} else {
		s.log.Warn("docker host down", "host", h.Name, "pool", h.Pool, "err", stored.Error)
	}
}

// probeHost connects to h and probes it; a host it cannot open is down,
// with the reason.
func (s *Server) probeHost(ctx context.Context, h api.DockerHost) api.HostState {
	start := time.Now().UTC()
	dh, err := s.openHost(ctx, h)
	if err != nil {
		return api.HostState{CheckedAt: start, Error: err.Error()}
	}
	defer dh.Close()
	st := hosts.Probe(ctx, dh)
	st.CheckedAt = start
	return st
}

// openHost connects to h as a runner would, with its credentials read
// from the server's own parameter store. The values stay in memory but
// for the moment dockerhost.Open reads them from files: those live in a
// directory of the data dir only the server's user can enter, removed
// before openHost returns. They are never logged; errors name the flag
// that set them, not the files.
func (s *Server) openHost(ctx context.Context, h api.DockerHost) (*dockerhost.Host, error) {
	spec, err := dockerhost.ParseSpec(h.URL, h.TLSCA != "")
	if err != nil {
		return nil, err
	}
	if spec.Scheme == dockerhost.SchemeUnix && !s.allowLocalDocker {
		// Added while the server allowed it; this start does not.
		return nil, fmt.Errorf("%s is a local socket, and this server was started without --allow-local-docker", spec)
	}
	dir, err := os.MkdirTemp(s.dataDir, "host-check-")
	if err != nil {
		return nil, fmt.Errorf("making a private directory for the host's credentials: %w", err)
	}
	defer os.RemoveAll(dir)
	names := strings.NewReplacer(filepath.Join(dir, "id"), "the --ssh-key value", filepath.Join(dir, "known_hosts"), "the --known-hosts value",
		filepath.Join(dir, "docker"), "the TLS files (--tls-ca, --tls-cert, --tls-key)", dir, "the host's credentials")
	write := func(ref, name string) (string, error) {
		path := filepath.Join(dir, name)
		var value []byte
		if ref != "" {
			r, ok, err := config.ParseRef(ref)
			if err != nil || !ok {
				return "", fmt.Errorf("%q is not a reference", ref)
			}
			if value, err = s.store.Lookup(ctx, r); err != nil {
				return "", err
			}
			value = []byte(strings.TrimSpace(string(value)) + "\n")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
		return path, os.WriteFile(path, value, 0o600)
	}
	opts := dockerhost.Options{Host: h.URL, Home: dir, CertPath: filepath.Join(dir, "docker"), Timeout: hostCheckTimeout, Logger: s.log}
	// Without known_hosts lines, the host key is unknown and the check
	// fails: never the server user's own ~/.ssh.
	known, err := write(h.KnownHosts, "known_hosts")
	if err != nil {
		return nil, fmt.Errorf("reading its known hosts: %w", err)
	}
	opts.KnownHosts = []string{known}
	if h.SSHKey != "" {
		key, err := write(h.SSHKey, "id")
		if err != nil {
			return nil, fmt.Errorf("reading its SSH key: %w", err)
		}
		opts.Identities = []string{key}
	}
	if h.TLSCA != "" && spec.Scheme == dockerhost.SchemeTCP {
		opts.TLSVerify = true
		for _, f := range []struct{ ref, name string }{{h.TLSCA, "docker/ca.pem"}, {h.TLSCert, "docker/cert.pem"}, {h.TLSKey, "docker/key.pem"}} {
			if _, err := write(f.ref, f.name); err != nil {
				return nil, fmt.Errorf("reading its TLS files: %w", err)
			}
		}
	}
	dh, err := dockerhost.Open(ctx, opts)
	if err != nil {
		return nil, errors.New(names.Replace(err.Error()))
	}
	return dh, nil
}
