package runner

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/dockerguard"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/mask"
	"github.com/jetway-dev/jetway/internal/resolve"
)

// dockerHubServer is where a login goes when nothing names a registry.
const dockerHubServer = "https://index.docker.io/v1/"

// bootstrap prepares the sandbox in order: SSH key, known_hosts, TLS
// files, the Docker host (and the proxy socket phases use), the registry
// login and the platform check. Each step is logged, never a value. The
// returned func stops the proxy.
func (r *run) bootstrap(ctx context.Context) (func(), error) {
	var hs hostSpec
	var err error
	if r.opts.DockerHost != nil {
		hs, err = r.openPoolHost(ctx)
	} else {
		hs, err = r.openHost(ctx)
	}
	if err != nil {
		return nil, err
	}
	spec := hs.spec
	if err := r.denyDockerHost(ctx, spec); err != nil {
		return nil, err
	}
	report, age, err := dockerhost.CheckSampled(ctx, r.host, time.Since(hs.start), 3, r.diskSample())
	if err != nil {
		return nil, fmt.Errorf("docker host %s: %w", spec, err)
	}
	rep := api.DockerHostReport(report)
	r.summary.DockerHost = &rep
	disk := fmt.Sprintf("%d images, build cache %s", report.Images, api.HumanBytes(report.BuildCache))
	if age > 0 {
		disk += fmt.Sprintf(" (as of %s ago)", age.Round(time.Second))
	}
	if report.DiskUsageError != "" {
		disk = "disk use unknown (" + report.DiskUsageError + ")"
	}
	r.bootstrapStep("docker host", fmt.Sprintf("%s: Docker %s, %s/%s, %s, connected in %s",
		spec, report.ServerVersion, report.OS, report.Architecture, disk, report.Connect.Round(time.Millisecond)))
	// Admission: a pool's host past its cap, or short of disk, is
	// collected before anything of this run lands on it.
	r.collect(ctx, "before the build", false)

	l, err := dockerhost.ListenUnix(r.sb.socket, 0o600)
	if err != nil {
		return nil, err
	}
	if err := os.Chown(r.sb.socket, r.sb.UID, r.sb.GID); err != nil {
		l.Close()
		return nil, err
	}
	guard := dockerguard.New(dockerguard.Config{
		Dialer: r.host, Project: r.opts.Project.Project, RunID: r.opts.RunID,
		Policy: r.opts.Docker, Repositories: r.ownRepositories(), Logger: r.log,
	})
	guardCtx, stopGuard := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := guard.Serve(guardCtx, l); err != nil {
			r.log.Error("the Docker guard stopped", "err", err)
		}
	}()
	stop := func() {
		stopGuard()
		<-done
		r.removeLeftovers(ctx, guard)
		guard.Close()
		r.collect(ctx, "after the run", true)
	}
	r.bootstrapStep("docker socket", "phases reach the Docker host through unix://"+r.sb.socket+", guarded: docker policy "+r.opts.Docker.String())

	if err := r.login(ctx); err != nil {
		return stop, err
	}
	if err := r.resolveImageSecrets(ctx); err != nil {
		return stop, err
	}
	if img := r.opts.Project.Image; img != nil && img.Platform != "" {
		warning, err := dockerhost.PlatformWarning(dockerhost.Platform{OS: report.OS, Arch: report.Architecture}, img.Platform)
		if err != nil {
			return stop, fail(ExitConfig, "image.platform: %v", err)
		}
		if warning != "" {
			r.emit(Event{Type: "warning", Message: warning})
		}
	}
	return stop, nil
}

// diskSampleAge is how long a Docker host's disk-use scan serves the
// checks of the runs after it, on this machine: the scan walks every image
// and cache record of the daemon, and its figures only inform the log (the
// pool's GC measures for itself).
const diskSampleAge = time.Minute

// diskSample keeps the Docker host's last disk-use scan in the work dir,
// beside the sandboxes, one file per host, root's.
func (r *run) diskSample() dockerhost.DiskSample {
	dir := filepath.Join(filepath.Dir(r.sb.Dir), ".docker-df")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return dockerhost.DiskSample{}
	}
	sum := sha256.Sum256([]byte(r.host.Spec().String()))
	return dockerhost.DiskSample{File: filepath.Join(dir, hex.EncodeToString(sum[:8])+".json"), MaxAge: diskSampleAge}
}

// imageSecretPrefix names image.secrets among the run's secrets, which
// carry their values to the build.
const imageSecretPrefix = "image.secrets."

// resolveImageSecrets reads image.secrets' references, before any phase
// runs, and adds their values to the masker (the build's output, and
// every line after it).
func (r *run) resolveImageSecrets(ctx context.Context) error {
	p := r.opts.Project
	if p.Image == nil || len(p.Image.Secrets) == 0 || p.Image.Builder == config.BuilderClassic {
		return nil
	}
	refs, err := p.Image.SecretReferences(p.Path, p.Env(r.opts.Env))
	if err != nil {
		return err
	}
	if r.opts.Resolve == nil {
		return fail(ExitConfig, "image.secrets references parameters, but no parameter store is configured")
	}
	var list []config.Ref
	for _, ref := range refs {
		if !slices.Contains(list, ref) {
			list = append(list, ref)
		}
	}
	resolved, err := r.opts.Resolve(ctx, list)
	var missing *resolve.MissingError
	if errors.As(err, &missing) {
		var names []string
		for _, s := range p.Image.Secrets {
			if slices.Contains(missing.Missing, refs[s.ID]) {
				names = append(names, fmt.Sprintf("image.secrets.%s: %s not found", s.ID, refs[s.ID]))
			}
		}
		return fail(ExitFailed, "references not found, so no phase ran: %s; store them (jetway params put NAME --type SecureString) or fix %s", strings.Join(names, "; "), filepath.Base(p.Path))
	}
	if err != nil {
		return fail(ExitUnreachable, "reading image.secrets from the parameter store: %v", err)
	}
	for _, s := range p.Image.Secrets {
		// Every build secret is masked, SecureString or not: it is a
		// secret by where it is used.
		r.secrets = append(r.secrets, mask.Secret{Name: imageSecretPrefix + s.ID, Value: resolved[refs[s.ID]].Value})
	}
	m, err := mask.Compile(r.secrets)
	if err != nil {
		return fail(ExitFailed, "image.secrets: %v", err)
	}
	r.matcher.Store(m)
	r.out.mu.Lock()
	_ = r.masked.Flush()
	r.masked = m.NewWriter(r.lines)
	r.out.w = r.masked
	r.out.mu.Unlock()
	r.bootstrapStep("build secrets", fmt.Sprintf("resolved %d image.secrets, masked in the log", len(p.Image.Secrets)))
	return nil
}

// dockerHostPrefixes are the addresses of the run's DOCKER_HOST, when it
// names one (not a pool's host, chosen later) that resolves now; nil
// otherwise, and denyDockerHost then does the work.
func (r *run) dockerHostPrefixes(ctx context.Context) []netip.Prefix {
	if r.opts.DockerHost != nil || r.vars["DOCKER_HOST"] == "" {
		return nil
	}
	spec, err := dockerhost.ParseSpec(r.vars["DOCKER_HOST"], false)
	if err != nil {
		return nil
	}
	prefixes, _ := hostPrefixes(ctx, spec)
	return prefixes
}

// hostPrefixes are the addresses spec's host resolves to, one prefix
// each; none for a unix socket.
func hostPrefixes(ctx context.Context, spec dockerhost.Spec) ([]netip.Prefix, error) {
	if spec.Scheme == dockerhost.SchemeUnix || spec.Host == "" {
		return nil, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", spec.Host)
	if err != nil {
		return nil, err
	}
	prefixes := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return prefixes, nil
}

// denyDockerHost keeps the phases' network from the Docker host's
// addresses: they reach it only through the guard.
func (r *run) denyDockerHost(ctx context.Context, spec dockerhost.Spec) error {
	if spec.Scheme == dockerhost.SchemeUnix || spec.Host == "" {
		return nil
	}
	prefixes, err := hostPrefixes(ctx, spec)
	if err != nil {
		return fmt.Errorf("docker host %s: resolving its address to keep phases from it: %w", spec, err)
	}
	if err := r.sb.DenyAddresses(ctx, prefixes); err != nil {
		return err
	}
	if r.sb.Isolated() {
		r.bootstrapStep("network", fmt.Sprintf("phases have a network of their own: the internet, not this machine, its loopback, metadata addresses or the Docker host (%s)", spec.Host))
	}
	return nil
}

// hostSpec is the Docker host a run connected to, and when it started to.
type hostSpec struct {
	spec  dockerhost.Spec
	start time.Time
}

// openHost writes the Docker host's credentials where only the runner
// reads them (and, if the operator exposes them, where the phases do), and
// connects to DOCKER_HOST.
func (r *run) openHost(ctx context.Context) (hostSpec, error) {
	home := r.sb.Home
	// The runner's credentials to the Docker host are its own: phases
	// reach the host only through the guard, and with the key or the
	// client certificate a phase would talk to the daemon directly. An
	// operator may expose them to a project it trusts with the host.
	expose := r.opts.Docker.ExposeCredentials
	private, err := r.sb.runnerDir()
	if err != nil {
		return hostSpec{}, err
	}
	var identities []string
	if key := r.vars["JETS_SSH_KEY"]; key != "" {
		identities = []string{filepath.Join(private, "id_rsa")}
		if err := writePrivateFile(identities[0], dockerhost.NormalizeKey([]byte(key))); err != nil {
			return hostSpec{}, err
		}
		if expose {
			if err := r.sb.writeHomeFile(".ssh/id_rsa", dockerhost.NormalizeKey([]byte(key)), 0o600); err != nil {
				return hostSpec{}, err
			}
			r.bootstrapStep("ssh key", "JETS_SSH_KEY written to ~/.ssh/id_rsa (0600): the operator exposes the Docker host's credentials to this project")
		} else {
			r.bootstrapStep("ssh key", "JETS_SSH_KEY kept by the runner for its own connection to the Docker host; phases do not get it")
		}
	}
	knownFile := filepath.Join(private, "known_hosts")
	if known := r.vars["JETS_SSH_KNOWN"]; known != "" {
		n, lines, err := r.appendKnownHosts(known)
		if err != nil {
			return hostSpec{}, err
		}
		if err := writePrivateFile(knownFile, []byte(lines)); err != nil {
			return hostSpec{}, err
		}
		r.bootstrapStep("known hosts", fmt.Sprintf("JETS_SSH_KNOWN: %d line(s) added to ~/.ssh/known_hosts", n))
	} else if err := writePrivateFile(knownFile, nil); err != nil {
		return hostSpec{}, err
	}
	tlsFiles := 0
	for name, file := range map[string]string{"DOCKER_TLS_CA": "ca.pem", "DOCKER_TLS_CERT": "cert.pem", "DOCKER_TLS_KEY": "key.pem"} {
		if v := r.vars[name]; v != "" {
			data := []byte(strings.TrimSpace(v) + "\n")
			if err := writePrivateFile(filepath.Join(private, "docker", file), data); err != nil {
				return hostSpec{}, err
			}
			if expose {
				mode := os.FileMode(0o644)
				if file == "key.pem" {
					mode = 0o600
				}
				if err := r.sb.writeHomeFile(".docker/"+file, data, mode); err != nil {
					return hostSpec{}, err
				}
			}
			tlsFiles++
		}
	}
	if tlsFiles > 0 {
		if expose {
			r.bootstrapStep("tls", fmt.Sprintf("%d TLS file(s) written to ~/.docker: the operator exposes the Docker host's credentials to this project", tlsFiles))
		} else {
			r.bootstrapStep("tls", fmt.Sprintf("%d TLS file(s) kept by the runner for its own connection; phases do not get them", tlsFiles))
		}
	}

	hostURL := r.vars["DOCKER_HOST"]
	tlsVerify := tlsFiles > 0 || truthy(r.vars["DOCKER_TLS_VERIFY"])
	spec, err := dockerhost.ParseSpec(hostURL, tlsVerify)
	if err != nil {
		return hostSpec{}, fail(ExitConfig, "%v", err)
	}
	r.summary.DockerHostURL = spec.String()
	refuseLocal := func(what string) error {
		return fail(ExitConfig, "DOCKER_HOST is %s, %s: through it a phase could control that machine (and the other runs on it), so the run is refused. "+
			"Set DOCKER_HOST to a remote Docker host (ssh://user@host, tcp://host:2376 with TLS), or run it on an agent on another machine; "+
			"an operator who accepts the risk starts jetway server (or jetway agent) with --allow-local-docker", spec, what)
	}
	var checkAddress dockerhost.AddressCheck
	if r.opts.RefuseLocalDocker {
		if isLocalDaemon(ctx, spec) {
			return hostSpec{}, refuseLocal("the Docker daemon of the machine this runner runs on")
		}
		// Checked again on the address each connection dials (tcp:// and
		// the sshd of ssh://): a name may resolve elsewhere the second
		// time, and an sshd of this machine leads to its daemon.
		checkAddress = func(ip netip.Addr) error {
			if machineAddress(ip) {
				return fmt.Errorf("%s is an address of this machine", ip)
			}
			return nil
		}
	}
	timeout := r.opts.DockerTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	start := time.Now()
	r.host, err = dockerhost.Open(ctx, dockerhost.Options{
		Host: hostURL, Home: home, User: invokingUser(), TLSVerify: tlsVerify && spec.Scheme == dockerhost.SchemeTCP,
		Identities: identities, KnownHosts: []string{knownFile},
		CertPath: filepath.Join(private, "docker"), Timeout: timeout, CheckAddress: checkAddress, Logger: r.log,
	})
	if err == nil {
		_, err = r.host.Ping(ctx)
	}
	var refused *dockerhost.RefusedAddressError
	if errors.As(err, &refused) {
		return hostSpec{}, refuseLocal("which leads to this machine (" + refused.Error() + ")")
	}
	if err != nil {
		return hostSpec{}, fmt.Errorf("docker host %s: %w", spec, err)
	}
	return hostSpec{spec: spec, start: start}, nil
}

// ownRepositories are the image repositories a run may tag besides
// PROJECT and PROJECT/…: image.name's.
func (r *run) ownRepositories() []string {
	if img := r.opts.Project.Image; img != nil && img.Name != "" {
		return []string{img.Name}
	}
	return nil
}

// removeLeftovers removes what the run's phases created on the Docker
// host and left (containers, networks, unnamed volumes), after the
// phases, whatever became of the run.
func (r *run) removeLeftovers(ctx context.Context, guard *dockerguard.Guard) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	removed, err := guard.Cleanup(ctx)
	if err != nil {
		r.emit(Event{Type: "warning", Message: "removing what the run left on the Docker host: " + err.Error()})
	}
	if removed != (dockerguard.Removed{}) {
		r.bootstrapStep("docker cleanup", fmt.Sprintf("removed what the run left on the Docker host: %d container(s), %d network(s), %d unnamed volume(s)", removed.Containers, removed.Networks, removed.Volumes))
	}
}

// writePrivateFile writes a file only the runner reads (0600, in its
// 0700 directory).
func writePrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// appendKnownHosts adds JETS_SSH_KNOWN's lines to ~/.ssh/known_hosts,
// dropping duplicates, and returns how many it added and the lines
// JETS_SSH_KNOWN holds (for the runner's own copy, which no phase can
// change).
func (r *run) appendKnownHosts(known string) (int, string, error) {
	existing, err := r.sb.readHomeFile(".ssh/known_hosts")
	if err != nil {
		return 0, "", err
	}
	have := map[string]bool{}
	var lines []string
	for _, l := range strings.Split(string(existing), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			have[l] = true
			lines = append(lines, l)
		}
	}
	added := 0
	var own []string
	for _, l := range strings.Split(strings.ReplaceAll(known, `\n`, "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			own = append(own, l)
			if !have[l] {
				have[l] = true
				lines = append(lines, l)
				added++
			}
		}
	}
	return added, strings.Join(own, "\n") + "\n", r.sb.writeHomeFile(".ssh/known_hosts", []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// registryAuth is the login the run holds, if any.
func (r *run) registryAuth() *registry.AuthConfig {
	user, pass := r.vars["DOCKER_USER"], r.vars["DOCKER_PASS"]
	if user == "" || pass == "" {
		return nil
	}
	return &registry.AuthConfig{Username: user, Password: pass, ServerAddress: r.registryServer()}
}

// registryServer is DOCKER_REGISTRY, else image.name's registry, else
// Docker Hub.
func (r *run) registryServer() string {
	if s := r.vars["DOCKER_REGISTRY"]; s != "" {
		return s
	}
	if img := r.opts.Project.Image; img != nil {
		if named, err := reference.ParseNormalizedNamed(img.Name); err == nil {
			if d := reference.Domain(named); d != "docker.io" {
				return d
			}
		}
	}
	return dockerHubServer
}

// login verifies the credentials through the Docker host (as `docker
// login` does, so the daemon's registry settings apply) and writes
// ~/.docker/config.json for the phases' docker commands.
func (r *run) login(ctx context.Context) error {
	auth := r.registryAuth()
	if auth == nil {
		if (r.vars["DOCKER_USER"] == "") != (r.vars["DOCKER_PASS"] == "") {
			r.emit(Event{Type: "warning", Message: "only one of DOCKER_USER and DOCKER_PASS is set: no registry login"})
		}
		return nil
	}
	c, err := r.host.NewClient()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.RegistryLogin(ctx, *auth); err != nil {
		return fail(ExitFailed, "registry login to %s as %q failed: %v; check DOCKER_USER and DOCKER_PASS (and DOCKER_REGISTRY)", auth.ServerAddress, auth.Username, err)
	}
	cfg := map[string]any{"auths": map[string]any{auth.ServerAddress: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(auth.Username + ":" + auth.Password)),
	}}}
	data, _ := json.MarshalIndent(cfg, "", "  ")
	if err := r.sb.writeHomeFile(".docker/config.json", data, 0o600); err != nil {
		return err
	}
	r.bootstrapStep("registry login", fmt.Sprintf("logged in to %s as %s", auth.ServerAddress, auth.Username))
	return nil
}

func truthy(v string) bool {
	b, err := strconv.ParseBool(v)
	return v != "" && (err != nil || b)
}

// invokingUser is the SSH user for a DOCKER_HOST without one, as ssh would
// choose it: the local user name.
func invokingUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// isLocalDaemon tells whether spec is this machine's own Docker daemon: a
// unix socket, or TCP to an address of this machine (loopback, or one of
// its interfaces', by name or by number).
// machineAddress tells whether ip is this machine's: loopback, unspecified
// or an address of one of its interfaces now.
func machineAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	own, _ := net.InterfaceAddrs()
	for _, a := range own {
		if n, ok := a.(*net.IPNet); ok {
			if addr, ok := netip.AddrFromSlice(n.IP); ok && addr.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

func isLocalDaemon(ctx context.Context, spec dockerhost.Spec) bool {
	switch spec.Scheme {
	case dockerhost.SchemeUnix:
		return true
	case dockerhost.SchemeTCP:
		ips := []net.IP{net.ParseIP(spec.Host)}
		if ips[0] == nil {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			addrs, err := net.DefaultResolver.LookupIPAddr(lctx, strings.TrimSuffix(spec.Host, "."))
			if err != nil {
				return strings.EqualFold(strings.TrimSuffix(spec.Host, "."), "localhost")
			}
			ips = ips[:0]
			for _, a := range addrs {
				ips = append(ips, a.IP)
			}
		}
		own, _ := net.InterfaceAddrs()
		for _, ip := range ips {
			if ip.IsLoopback() || ip.IsUnspecified() {
				return true
			}
			for _, a := range own {
				if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
					return true
				}
			}
		}
	}
	return false
}
