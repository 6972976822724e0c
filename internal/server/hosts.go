package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/hosts"
	"github.com/jetway-dev/jetway/internal/record"
)

// The Docker hosts the server knows (jetway hosts): warm hosts in pools,
// which projects choose with docker_host: {pool: NAME}. Only the API token
// adds, changes, drains, collects or removes them (authed); run and agent
// tokens are refused, since a phase holding one could otherwise point its
// project's builds, and the credentials handed with them, elsewhere. The
// server stores references to the hosts' credentials, never values. A run
// of a pool gets its host when its runner fetches its spec (runSpec), and
// its run token may then read that host's credentials (runRefs).

func (s *Server) hostRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/hosts", s.allow(rightRead, s.listHosts))
	mux.Handle("POST /v1/hosts", s.allow(rightAdmin, s.addHost))
	mux.Handle("GET /v1/hosts/{name}", s.allow(rightRead, s.getHost))
	mux.Handle("PUT /v1/hosts/{name}", s.allow(rightAdmin, s.putHost))
	mux.Handle("DELETE /v1/hosts/{name}", s.allow(rightAdmin, s.deleteHost))
	mux.Handle("POST /v1/hosts/{name}/drain", s.allow(rightAdmin, s.drainHost))
	mux.Handle("POST /v1/hosts/{name}/gc", s.allow(rightAdmin, s.gcHost))
}

var hostNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func checkHostName(name string) error {
	if !hostNameRE.MatchString(name) {
		return fmt.Errorf("host name %q: use lower-case letters, digits and - only (at most 63), e.g. b1 or builder-2", name)
	}
	return nil
}

// checkHost checks a host's settings for the name in the path and returns
// them as they are stored: the name set, and what only the server sets
// (draining, creation, state) cleared.
func checkHost(name string, h api.DockerHost, allowLocal bool) (api.DockerHost, error) {
	if err := checkHostName(name); err != nil {
		return h, err
	}
	if h.Name != "" && h.Name != name {
		return h, fmt.Errorf("the body names host %q, the path %q", h.Name, name)
	}
	out := api.DockerHost{Name: name, URL: h.URL, Pool: h.Pool, SSHKey: h.SSHKey, KnownHosts: h.KnownHosts,
		TLSCA: h.TLSCA, TLSCert: h.TLSCert, TLSKey: h.TLSKey, MaxBuilds: h.MaxBuilds, GC: h.GC, Projects: nonEmpty(h.Projects)}
	for _, g := range h.Projects {
		if err := validGlob(g); err != nil {
			return h, fmt.Errorf("host %s: --projects: %w", name, err)
		}
	}
	if !config.ValidLabel(h.Pool) {
		return h, fmt.Errorf("host %s: pool %q: name it with letters, digits, -, _ and . (as docker_host: {pool: NAME} in jetway.yaml), e.g. --pool builders", name, h.Pool)
	}
	if h.URL == "" {
		return h, fmt.Errorf("host %s: give its URL (--url ssh://USER@HOST, tcp://HOST:2376)", name)
	}
	refs := []struct{ flag, value string }{
		{"--ssh-key", h.SSHKey}, {"--known-hosts", h.KnownHosts}, {"--tls-ca", h.TLSCA}, {"--tls-cert", h.TLSCert}, {"--tls-key", h.TLSKey},
	}
	for _, r := range refs {
		if r.value == "" {
			continue
		}
		if _, ok, err := config.ParseRef(r.value); err != nil {
			return h, fmt.Errorf("host %s: %s: %w", name, r.flag, err)
		} else if !ok {
			return h, fmt.Errorf("host %s: %s is not a reference: the server stores references, never values; put the value in the parameter store (jetway params put /hosts/%s/KEY --type SecureString --value-file FILE) and give SSM:/hosts/%s/KEY", name, r.flag, name, name)
		}
	}
	tls := h.TLSCA != "" || h.TLSCert != "" || h.TLSKey != ""
	spec, err := dockerhost.ParseSpec(h.URL, tls)
	if err != nil {
		return h, fmt.Errorf("host %s: --url: %w", name, err)
	}
	switch spec.Scheme {
	case dockerhost.SchemeUnix:
		if !allowLocal {
			return h, fmt.Errorf("host %s: %s is the Docker daemon of the machine a run's runner is on: through it a run's phases could control that machine, so it is refused; use a remote host (ssh://USER@HOST, tcp://HOST:2376 with TLS), or start jetway server with --allow-local-docker if you accept the risk", name, spec)
		}
		if tls || h.SSHKey != "" || h.KnownHosts != "" {
			return h, fmt.Errorf("host %s: a unix:// socket takes no SSH key, known hosts or TLS files", name)
		}
	case dockerhost.SchemeSSH:
		if spec.User == "" {
			return h, fmt.Errorf("host %s: --url %s names no SSH user: write ssh://USER@%s", name, h.URL, spec.Host)
		}
		if h.SSHKey == "" || h.KnownHosts == "" {
			return h, fmt.Errorf("host %s: an ssh:// host needs --ssh-key and --known-hosts (references to its private key and its known_hosts lines): runners have no other key for it, and always verify its host key", name)
		}
		if tls {
			return h, fmt.Errorf("host %s: TLS files are for tcp:// hosts; an ssh:// host takes --ssh-key and --known-hosts", name)
		}
	case dockerhost.SchemeTCP:
		if h.SSHKey != "" || h.KnownHosts != "" {
			return h, fmt.Errorf("host %s: --ssh-key and --known-hosts are for ssh:// hosts; a tcp:// host takes --tls-ca, --tls-cert and --tls-key", name)
		}
		if tls && (h.TLSCA == "" || h.TLSCert == "" || h.TLSKey == "") {
			return h, fmt.Errorf("host %s: give all of --tls-ca, --tls-cert and --tls-key, or none", name)
		}
	}
	switch {
	case h.MaxBuilds < 0:
		return h, fmt.Errorf("host %s: --max-builds %d: give 0 (no bound) or more", name, h.MaxBuilds)
	case h.GC.MaxUsed < 0 || h.GC.MinFree < 0:
		return h, fmt.Errorf("host %s: GC sizes are bytes, 0 (none) or more", name)
	case h.GC.MinFreePercent < 0 || h.GC.MinFreePercent >= 100:
		return h, fmt.Errorf("host %s: --gc-min-free %g%%: give a percentage from 0 to under 100", name, h.GC.MinFreePercent)
	case h.GC.KeepImages < 0:
		return h, fmt.Errorf("host %s: --gc-keep-images %d: give 0 (the default, %d) or more", name, h.GC.KeepImages, api.DefaultKeepImages)
	}
	return out, nil
}

// hostsNow lists the hosts of pool ("": all) as the API shows them: each
// with a state (a zero CheckedAt when never checked), its builds and the
// projects at home there.
func (s *Server) hostsNow(ctx context.Context, pool string) ([]api.DockerHost, error) {
	list, err := s.runs.ListHosts(ctx, pool)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].State == nil {
			list[i].State = &api.HostState{}
		}
	}
	if err := s.countBuilds(ctx, list, ""); err != nil {
		return nil, err
	}
	if err := s.countHomes(ctx, list); err != nil {
		return nil, err
	}
	return list, nil
}

// countBuilds sets each host's Builds: the active runs building on it,
// but the run except (which is asking for a host itself). Hosts without a
// state get one.
func (s *Server) countBuilds(ctx context.Context, list []api.DockerHost, except string) error {
	active, err := s.runs.Active(ctx)
	if err != nil {
		return fmt.Errorf("listing active runs: %w", err)
	}
	builds := map[string]int{}
	for _, r := range active {
		if r.ID != except {
			if h := r.BuildingOn(); h != "" {
				builds[h]++
			}
		}
	}
	for i := range list {
		if list[i].State == nil {
			list[i].State = &api.HostState{}
		}
		list[i].State.Builds = builds[list[i].Name]
	}
	return nil
}

// countHomes sets each host's Home: the projects, among those that ran in
// its pool, whose key ranks it first in the pool as it is now.
func (s *Server) countHomes(ctx context.Context, list []api.DockerHost) error {
	keys, err := s.runs.PoolKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing the projects of the pools: %w", err)
	}
	pools := map[string][]api.DockerHost{}
	if len(keys) > 0 {
		// The ranking weighs a pool's hosts by all of them, listed or not.
		all, err := s.runs.ListHosts(ctx, "")
		if err != nil {
			return err
		}
		for _, h := range all {
			pools[h.Pool] = append(pools[h.Pool], h)
		}
	}
	homes := map[string][]string{}
	for _, k := range keys {
		if pool := pools[k.Pool]; len(pool) > 0 {
			home := hosts.Rank(hosts.Key(k.Project, k.Dockerfile), pool)[0].Name
			if !slices.Contains(homes[home], k.Project) {
				homes[home] = append(homes[home], k.Project)
			}
		}
	}
	for i := range list {
		list[i].State.HomeProjects = homes[list[i].Name]
		list[i].State.Home = len(homes[list[i].Name])
	}
	return nil
}

// assignDockerHost chooses, for a run whose project names a pool
// (docker_host: {pool: NAME}), the hosts of the pool it may build on, in
// order, records the choice with the run and returns it; nil for a run
// outside a pool. A pool without hosts gives no candidate: the runner
// fails the run, naming the pool.
func (s *Server) assignDockerHost(ctx context.Context, run record.Run) (*api.AssignedHost, error) {
	p, err := config.ParseWithVars(config.FileName, []byte(run.ProjectFile), run.RunVars)
	if err != nil || p.DockerPool == "" {
		return nil, nil // a file that does not parse is the runner's to report
	}
	dockerfile := "Dockerfile"
	if p.Image != nil && p.Image.Dockerfile != "" {
		dockerfile = p.Image.Dockerfile
	}
	pool, err := s.runs.ListHosts(ctx, p.DockerPool)
	if err != nil {
		return nil, fmt.Errorf("listing the hosts of pool %s: %w", p.DockerPool, err)
	}
	if err := s.countBuilds(ctx, pool, run.ID); err != nil {
		return nil, err
	}
	for i := range pool {
		// A host not checked yet (just added) is taken as up: the runner
		// tries the next candidate if it is not.
		if pool[i].State.CheckedAt.IsZero() {
			pool[i].State.Up = true
		}
	}
	// Hosts an operator gave to other projects are not the run's to
	// choose: a pool is how projects that do not trust each other keep
	// their builds (and BuildKit's shared cache mounts) apart.
	var closed []api.SkippedHost
	pool = slices.DeleteFunc(pool, func(h api.DockerHost) bool {
		if openTo(h, p.Project) {
			return false
		}
		closed = append(closed, api.SkippedHost{Name: h.Name, Reason: fmt.Sprintf("not open to project %s (its projects: %s)", p.Project, strings.Join(h.Projects, ","))})
		return true
	})
	a := hosts.Choose(hosts.Key(p.Project, dockerfile), pool)
	a.Pool = p.DockerPool
	a.Skipped = append(a.Skipped, closed...)
	if a.Candidates == nil {
		a.Candidates = []api.HostCandidate{}
	}
	if err := s.runs.AssignDockerHost(ctx, run.ID, dockerfile, a); err != nil {
		return nil, fmt.Errorf("recording the Docker host of run %s: %w", run.ID, err)
	}
	var order []string
	for _, c := range a.Candidates {
		order = append(order, c.Name)
	}
	s.log.Info("docker host chosen", "run", run.ID, "project", run.Project, "pool", a.Pool, "candidates", order, "skipped", len(a.Skipped))
	return &a, nil
}

// openTo tells whether runs of project may build on host h.
func openTo(h api.DockerHost, project string) bool {
	return principal{Projects: h.Projects}.seesProject(project)
}

// recordHostUse records, from a run's summary, the host of its pool it
// built on and the GCs it ran there. Only a host the run was handed
// counts: a summary is the runner's word, and it may name no other.
func (s *Server) recordHostUse(ctx context.Context, runID string, summary *api.Summary) {
	if summary.DockerHostName == "" {
		return
	}
	run, err := s.runs.GetRun(ctx, runID)
	if err != nil || run.DockerHost == nil {
		return
	}
	if !slices.ContainsFunc(run.DockerHost.Candidates, func(c api.HostCandidate) bool { return c.Name == summary.DockerHostName }) {
		s.log.Warn("a run's summary names a Docker host it was not given", "run", runID, "host", summary.DockerHostName)
		return
	}
	if err := s.runs.SetBuiltOn(ctx, runID, summary.DockerHostName); err != nil {
		s.log.Error("recording the Docker host a run built on", "run", runID, "err", err)
	}
	for _, gc := range summary.GC {
		if gc.DryRun || gc.At.IsZero() {
			continue
		}
		if err := s.runs.RecordHostGC(ctx, summary.DockerHostName, gc); err != nil {
			s.log.Error("recording a Docker host's GC", "host", summary.DockerHostName, "err", err)
		}
		s.metrics.HostGC(summary.DockerHostName, gc.ImagesFreed+gc.BuildCacheFreed)
	}
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	list, err := s.hostsNow(r.Context(), r.URL.Query().Get("pool"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "listing Docker hosts: %v", err)
		return
	}
	list = scopeHosts(principalOf(r.Context()), list)
	if list == nil {
		list = []api.DockerHost{}
	}
	writeJSON(w, http.StatusOK, list)
}

// oneHost answers host h as the API shows it.
func (s *Server) oneHost(w http.ResponseWriter, r *http.Request, status int, h api.DockerHost) {
	list, err := s.hostsNow(r.Context(), h.Pool)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading Docker host %s: %v", h.Name, err)
		return
	}
	for _, got := range scopeHosts(principalOf(r.Context()), list) {
		if got.Name == h.Name {
			h = got
		}
	}
	writeJSON(w, status, h)
}

// lookupHost reads the host named in the path, or answers why not.
func (s *Server) lookupHost(w http.ResponseWriter, r *http.Request) (api.DockerHost, bool) {
	name := r.PathValue("name")
	if err := checkHostName(name); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return api.DockerHost{}, false
	}
	h, err := s.runs.GetHost(r.Context(), name)
	if errors.Is(err, record.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no Docker host %q; jetway hosts ls lists them, jetway hosts add adds one", name)
		return h, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading Docker host %s: %v", name, err)
		return h, false
	}
	return h, true
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request) {
	if h, ok := s.lookupHost(w, r); ok {
		s.oneHost(w, r, http.StatusOK, h)
	}
}

func (s *Server) addHost(w http.ResponseWriter, r *http.Request) {
	var req api.DockerHost
	if !decodeBody(w, r, &req) {
		return
	}
	h, err := checkHost(req.Name, req, s.allowLocalDocker)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	stored, err := s.runs.AddHost(r.Context(), h)
	if errors.Is(err, record.ErrExists) {
		writeError(w, http.StatusConflict, "Docker host %s exists already; change it with jetway hosts set %s", h.Name, h.Name)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "storing Docker host %s: %v", h.Name, err)
		return
	}
	s.log.Info("docker host added", "host", stored.Name, "pool", stored.Pool, "url", stored.URL, "from", r.RemoteAddr)
	noteAudit(r, stored.Name, "pool "+stored.Pool+" "+stored.URL)
	s.checkHostsNow()
	s.oneHost(w, r, http.StatusCreated, stored)
}

// putHost replaces a host's settings; draining changes through /drain.
func (s *Server) putHost(w http.ResponseWriter, r *http.Request) {
	var req api.DockerHost
	if !decodeBody(w, r, &req) {
		return
	}
	h, err := checkHost(r.PathValue("name"), req, s.allowLocalDocker)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	stored, err := s.runs.PutHost(r.Context(), h)
	if errors.Is(err, record.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no Docker host %q; add it with jetway hosts add", h.Name)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "storing Docker host %s: %v", h.Name, err)
		return
	}
	s.log.Info("docker host changed", "host", stored.Name, "pool", stored.Pool, "url", stored.URL, "from", r.RemoteAddr)
	s.checkHostsNow()
	s.oneHost(w, r, http.StatusOK, stored)
}

func (s *Server) deleteHost(w http.ResponseWriter, r *http.Request) {
	h, ok := s.lookupHost(w, r)
	if !ok {
		return
	}
	err := s.runs.DeleteHost(r.Context(), h.Name)
	if errors.Is(err, record.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no Docker host %q", h.Name)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "removing Docker host %s: %v", h.Name, err)
		return
	}
	s.log.Info("docker host removed", "host", h.Name, "pool", h.Pool, "from", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// drainHost stops a host taking new runs (?undo=1: takes them again);
// runs on it go on.
func (s *Server) drainHost(w http.ResponseWriter, r *http.Request) {
	h, ok := s.lookupHost(w, r)
	if !ok {
		return
	}
	undo, _ := strconv.ParseBool(r.URL.Query().Get("undo"))
	stored, err := s.runs.DrainHost(r.Context(), h.Name, !undo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "draining Docker host %s: %v", h.Name, err)
		return
	}
	s.log.Info("docker host draining", "host", h.Name, "draining", stored.Draining, "from", r.RemoteAddr)
	s.oneHost(w, r, http.StatusOK, stored)
}

// gcTimeout bounds a GC by hand; pruning a large build cache takes a
// while.
const gcTimeout = 10 * time.Minute

// gcHost collects a host to its policy now (?dry_run=1: says what it
// would remove). The answer is the report, whose Error says what failed
// on the way; a host the server cannot reach is a 502.
func (s *Server) gcHost(w http.ResponseWriter, r *http.Request) {
	h, ok := s.lookupHost(w, r)
	if !ok {
		return
	}
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run"))
	ctx, cancel := context.WithTimeout(r.Context(), gcTimeout)
	defer cancel()
	dh, err := s.openHost(ctx, h)
	if err != nil {
		writeError(w, http.StatusBadGateway, "docker host %s: %v", h.Name, err)
		return
	}
	defer dh.Close()
	c, err := dh.NewClient()
	if err != nil {
		writeError(w, http.StatusBadGateway, "docker host %s: %v", h.Name, err)
		return
	}
	defer c.Close()
	report, err := hosts.Collect(ctx, c, h.GC, hosts.GCOptions{Reason: "by hand", Always: true, DryRun: dry,
		Free: func(ctx context.Context) (int64, int64, error) {
			// The free disk is a nicety (MinFree); it must not hold the GC.
			ctx, cancel := context.WithTimeout(ctx, hostCheckTimeout)
			defer cancel()
			return hosts.DiskFree(ctx, dh)
		}})
	s.log.Info("docker host collected", "host", h.Name, "dry_run", dry, "images", len(report.Images), "images_freed", report.ImagesFreed,
		"build_cache_freed", report.BuildCacheFreed, "err", err, "from", r.RemoteAddr)
	if !dry {
		s.metrics.HostGC(h.Name, report.ImagesFreed+report.BuildCacheFreed)
		if err := s.runs.RecordHostGC(context.WithoutCancel(ctx), h.Name, report); err != nil {
			s.log.Error("recording a Docker host's GC", "host", h.Name, "err", err)
		}
		s.checkHostsNow() // its sizes changed
	}
	writeJSON(w, http.StatusOK, report)
}
