// Package runner executes one run on a fresh machine: it makes a sandbox,
// resolves the run's references, bootstraps SSH keys, TLS files, the Docker
// host and the registry login, runs the phases and the image build, and
// cleans everything up. `jetway run` and the server's runners use the same
// code; only the Sink differs.
//
// Every byte a run shows passes the masker first: phase output, build
// output and the runner's own messages.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/exitcode"
	"github.com/jetway-dev/jetway/internal/mask"
	"github.com/jetway-dev/jetway/internal/resolve"
	"github.com/jetway-dev/jetway/internal/sandbox"
)

// Status is how a run ended.
type Status string

const (
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	TimedOut  Status = "timed_out"
	Cancelled Status = "cancelled"
)

// Exit statuses, shared with the CLI (package exitcode).
const (
	ExitOK          = exitcode.OK
	ExitFailed      = exitcode.Failed
	ExitConfig      = exitcode.Usage
	ExitUnreachable = exitcode.Unreachable
	ExitTimedOut    = exitcode.TimedOut
	ExitCancelled   = exitcode.Cancelled
)

// Options describe one run.
type Options struct {
	SourceDir string
	// SourceIsBundle says SourceDir holds a bundle, whose files the
	// client chose by the ignore rules already: it is copied whole.
	// Otherwise the runner chooses the files itself (.gitignore,
	// .jetwayignore; see bundle.Source).
	SourceIsBundle bool
	Project        *config.Project
	// Env overrides the project's ssm_env.
	Env   string
	RunID string
	// Resolve reads references; it may be nil when the project has none.
	Resolve func(ctx context.Context, refs []config.Ref) (map[config.Ref]resolve.Resolved, error)
	// IDTokens gets the run's OIDC tokens from the server (id_tokens:),
	// by variable name; nil where no server issues them (jetway run).
	IDTokens func(ctx context.Context) (map[string]string, error)
	// ClientEnv is the environment that env.pass copies from.
	ClientEnv []string
	// PhaseEnv is the base environment of phases: PATH, LANG, TZ.
	PhaseEnv      []string
	Sink          Sink
	Logger        *slog.Logger
	DockerTimeout time.Duration
	// Sandbox says where sandboxes go and which UIDs run users get.
	Sandbox sandbox.Config
	// Git, when set, are the checkout's facts as the client found them;
	// without it the runner asks git in SourceDir. A server's runner must
	// set it: git run as root on a deployer's .git runs what its config
	// says (core.fsmonitor, hooks).
	Git *api.Git
	// RefuseLocalDocker refuses a DOCKER_HOST that is this machine's own
	// daemon (empty or unix://): the server sets it, since through that
	// daemon a phase controls the machine the server runs on.
	RefuseLocalDocker bool
	// Artifacts keeps the files artifacts: names; nil lists them only
	// (jetway run has no server to keep them).
	Artifacts ArtifactStore
	// Docker is what the project's operator allows its runs on the
	// Docker host beyond the guard's strict default.
	Docker api.DockerPolicy
	// DockerHost is the server's choice of hosts from the project's pool
	// (docker_host: {pool: …}), nil when the project names DOCKER_HOST.
	DockerHost *api.AssignedHost
}

// PhaseResult and Summary are the wire types.
type (
	PhaseResult = api.PhaseResult
	Summary     = api.Summary
)

var errTimedOut = errors.New("the run's timeout passed")

// phaseError is a failure with the exit status it maps to.
type phaseError struct {
	code int
	err  error
}

func (e *phaseError) Error() string { return e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

func fail(code int, format string, args ...any) error {
	return &phaseError{code: code, err: fmt.Errorf(format, args...)}
}

// run is the state of one run.
type run struct {
	opts    Options
	log     *slog.Logger
	matcher atomic.Pointer[mask.Matcher]
	emitMu  sync.Mutex
	summary *Summary

	vars    map[string]string // resolved run variables
	passed  map[string]string // what env.pass copies from the caller's environment
	secrets []mask.Secret
	sb      *runSandbox
	out     *lockedWriter // masked phase and build output
	lines   *lineWriter
	masked  *mask.Writer
	host    *dockerhost.Host
	// poolCreds are the resolved credentials of the pool's candidate
	// hosts, by host and variable; hostGC the chosen host's GC policy.
	poolCreds map[string]map[string]string
	hostGC    *api.GCPolicy
	// releaseStatus is what the phases after the release point see in
	// JETWAY_RELEASE_STATUS: succeeded, failed or skipped; empty before
	// it, or without release:.
	releaseStatus string
}

// Run executes a run to its end and returns its summary; it never panics
// on a failed run, and it always cleans up.
func Run(ctx context.Context, opts Options) *Summary {
	r := &run{opts: opts, log: opts.Logger, summary: &Summary{RunID: opts.RunID, Project: opts.Project.Project}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	runCtx, cancel := context.WithTimeoutCause(ctx, opts.Project.Timeout, errTimedOut)
	defer cancel()
	err := r.execute(runCtx)
	r.finish(runCtx, err)
	r.summary.Duration = time.Since(start)
	r.maskSummary()
	r.emit(Event{Type: "summary", Status: r.summary.Status, Summary: r.summary, Duration: r.summary.Duration})
	return r.summary
}

func (r *run) finish(ctx context.Context, err error) {
	s := r.summary
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		s.Status, s.ExitCode = string(Succeeded), ExitOK
		return
	case errors.Is(cause, errTimedOut):
		s.Status, s.ExitCode = string(TimedOut), ExitTimedOut
		err = fmt.Errorf("timed out after %s (timeout: in %s)", r.opts.Project.Timeout, filepath.Base(r.opts.Project.Path))
	case ctx.Err() != nil:
		s.Status, s.ExitCode = string(Cancelled), ExitCancelled
		err = errors.New("cancelled")
	default:
		s.Status, s.ExitCode = string(Failed), ExitFailed
		var pe *phaseError
		var ce *config.ConfigError
		switch {
		case errors.As(err, &pe):
			s.ExitCode = pe.code
		case errors.As(err, &ce):
			s.ExitCode = ExitConfig
		case dockerhost.IsUnreachable(err):
			s.ExitCode = ExitUnreachable
		}
	}
	s.Error = r.mask(err.Error())
	r.emit(Event{Type: "error", Status: s.Status, Message: s.Error})
}

// maskSummary masks the summary's free texts: a DOCKER_HOST or a
// Dockerfile line may hold a secret value too.
func (r *run) maskSummary() {
	s := r.summary
	s.DockerHostURL = r.mask(s.DockerHostURL)
	if s.DockerHost != nil {
		s.DockerHost.Host = r.mask(s.DockerHost.Host)
	}
	if s.Build != nil {
		for i := range s.Build.Steps {
			s.Build.Steps[i].Instruction = r.mask(s.Build.Steps[i].Instruction)
		}
	}
	for i, t := range s.Tags {
		s.Tags[i] = r.mask(t)
	}
}

// mask hides every secret known so far in s.
func (r *run) mask(s string) string {
	if m := r.matcher.Load(); m != nil {
		return m.String(s)
	}
	return s
}

// emit masks an event's text and hands it to the sink.
func (r *run) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Type != "log" { // log lines come from the masked stream already
		e.Message = r.mask(e.Message)
	}
	if r.opts.Sink == nil {
		return
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opts.Sink.Emit(e)
}

func (r *run) bootstrapStep(name, outcome string) {
	r.emit(Event{Type: "bootstrap", Phase: "bootstrap", Status: name, Message: outcome})
}

func (r *run) execute(ctx context.Context) (err error) {
	p := r.opts.Project
	git, inGit := r.gitFacts(ctx)
	r.summary.Git = git
	var tags []string
	if p.Image != nil {
		if tags, err = p.Image.RenderTags(p.Path, config.TagData{GitSHA: git.SHA, Branch: git.Branch, RunID: r.opts.RunID}, inGit); err != nil {
			return err
		}
		r.summary.Image, r.summary.Tags = p.Image.Name, tags
	}
	if err := r.resolve(ctx); err != nil {
		return err
	}
	// The Docker host's addresses are denied in the firewall the sandbox
	// starts with, when DOCKER_HOST names them already (denyDockerHost
	// checks again once connected, and adds what it resolves anew).
	if r.sb, err = newSandbox(ctx, r.opts.Sandbox, r.opts.RunID, limits(p), sandbox.WithDenied(r.dockerHostPrefixes(ctx))); err != nil {
		return fmt.Errorf("creating the sandbox: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if r.host != nil {
			r.host.Close()
		}
		if rerr := r.sb.Remove(cctx); rerr != nil {
			r.log.Error("cleaning up the sandbox", "err", rerr)
			err = errors.Join(err, rerr)
		}
	}()
	for _, note := range r.sb.Notes {
		r.emit(Event{Type: "warning", Message: note})
	}
	if r.sb.User == "" {
		r.emit(Event{Type: "warning", Message: "phases have the sandbox as $HOME, but ssh reads ~/.ssh of the passwd home, not this one"})
	} else {
		r.bootstrapStep("sandbox", fmt.Sprintf("run user %s (UID %d); own PID, mount, IPC and network namespaces; private /tmp, /var/tmp and /dev/shm; the rest of the machine read-only", r.sb.User, r.sb.UID))
		r.bootstrapStep("limits", limitsLine(limits(p), r.opts.Sandbox.MaxLimits, r.sb.Limits))
	}
	r.wireLog()

	if err := bundle.CopyTree(r.opts.SourceDir, r.sb.Workspace, r.opts.SourceIsBundle, r.sb.UID, r.sb.GID); err != nil {
		return fmt.Errorf("copying the source into the sandbox: %w", err)
	}
	proxyDone, err := r.bootstrap(ctx)
	if proxyDone != nil {
		defer proxyDone()
	}
	if err != nil {
		return err
	}
	err = r.phases(ctx, tags)
	// Test reports matter most when the phases failed.
	if aerr := r.keepArtifacts(ctx); err == nil {
		err = aerr
	}
	return err
}

// resolve reads the references, builds the variables and compiles the
// masker over every secret.
func (r *run) resolve(ctx context.Context) error {
	p := r.opts.Project
	env := p.Env(r.opts.Env)
	refs, err := p.References(env)
	if err != nil {
		return err
	}
	hostRefs, err := r.poolRefs()
	if err != nil {
		return err
	}
	var resolved map[config.Ref]resolve.Resolved
	if len(refs) > 0 || len(hostRefs) > 0 {
		if r.opts.Resolve == nil {
			return fail(ExitConfig, "the project references parameters, but no parameter store is configured")
		}
		var list []config.Ref
		for _, ref := range refs {
			if !slices.Contains(list, ref) {
				list = append(list, ref)
			}
		}
		for _, byName := range hostRefs {
			for _, ref := range byName {
				if !slices.Contains(list, ref) {
					list = append(list, ref)
				}
			}
		}
		resolved, err = r.opts.Resolve(ctx, list)
		var missing *resolve.MissingError
		if errors.As(err, &missing) {
			var lines []string
			for _, v := range p.Vars {
				if ref, ok := refs[v.Name]; ok && slices.Contains(missing.Missing, ref) {
					what := "parameter"
					if ref.Store == config.SecretsManager {
						what = "secret"
					}
					lines = append(lines, fmt.Sprintf("%s: %s %s not found", v.Name, what, ref.Name))
				}
			}
			for host, byName := range hostRefs {
				for name, ref := range byName {
					if slices.Contains(missing.Missing, ref) {
						lines = append(lines, fmt.Sprintf("%s of docker host %s: %s not found", name, host, ref.Name))
					}
				}
			}
			return fail(ExitFailed, "references not found, so no phase ran: %s; store them (jetway params put NAME --type SecureString) or fix %s", strings.Join(lines, "; "), filepath.Base(p.Path))
		}
		if err != nil {
			return fail(ExitUnreachable, "reading the parameter store: %v", err)
		}
		r.bootstrapStep("resolve", fmt.Sprintf("resolved %d references", len(refs)))
	}
	r.poolCreds = map[string]map[string]string{}
	for host, byName := range hostRefs {
		r.poolCreds[host] = map[string]string{}
		for name, ref := range byName {
			val := resolved[ref]
			r.poolCreds[host][name] = string(val.Value)
			if sec, ok := poolSecret(host, name, val.Value); ok || val.Secure {
				if !ok {
					sec = mask.Secret{Name: fmt.Sprintf("%s of docker host %s", name, host), Value: val.Value}
				}
				r.secrets = append(r.secrets, sec)
			}
			if name == "JETS_SSH_KEY" {
				if norm := dockerhost.NormalizeKey(val.Value); string(norm) != string(val.Value) {
					r.secrets = append(r.secrets, mask.Secret{Name: "JETS_SSH_KEY of docker host " + host + " (normalised)", Value: norm})
				}
			}
		}
	}
	r.vars = map[string]string{}
	for _, v := range p.Vars {
		if ref, ok := refs[v.Name]; ok {
			val := resolved[ref]
			r.vars[v.Name] = string(val.Value)
			if val.Secure {
				r.secrets = append(r.secrets, mask.Secret{Name: v.Name, Value: val.Value})
			}
			continue
		}
		r.vars[v.Name] = config.ExpandEnv(v.Value, env)
		// A plain value given for the run (-e) whose name looks secret is
		// masked like a passed one: it came from a command line, not from
		// a reviewed file.
		if v.FromRun && config.LooksSecret(v.Name) && r.vars[v.Name] != "" {
			r.secrets = append(r.secrets, mask.Secret{Name: v.Name + " (given with -e)", Value: []byte(r.vars[v.Name])})
		}
	}
	for _, name := range []string{"DOCKER_PASS", "JETS_SSH_KEY", "DOCKER_TLS_KEY"} {
		if v := r.vars[name]; v != "" && !slices.ContainsFunc(r.secrets, func(s mask.Secret) bool { return s.Name == name }) {
			r.secrets = append(r.secrets, mask.Secret{Name: name, Value: []byte(v)})
		}
	}
	if key := r.vars["JETS_SSH_KEY"]; key != "" {
		if norm := dockerhost.NormalizeKey([]byte(key)); string(norm) != key {
			r.secrets = append(r.secrets, mask.Secret{Name: "JETS_SSH_KEY (as written to ~/.ssh/id_rsa)", Value: norm})
		}
	}
	if err := r.idTokens(ctx); err != nil {
		return err
	}
	// What env.pass lets through from the caller's environment; a value
	// whose name looks secret (MY_API_TOKEN) is masked like a SecureString.
	var secretNames []string
	r.passed, secretNames = p.PassEnv(r.opts.ClientEnv)
	for _, name := range secretNames {
		if v := r.passed[name]; v != "" {
			r.secrets = append(r.secrets, mask.Secret{Name: name + " (from env.pass)", Value: []byte(v)})
		}
	}
	m, err := mask.Compile(r.secrets)
	if err != nil {
		return fail(ExitFailed, "%v", err)
	}
	r.matcher.Store(m)
	return nil
}

// idTokens gets the run's OIDC tokens (id_tokens:) before any phase
// runs: each becomes a variable of the phases and a secret of the masker.
// A run that cannot have them all runs no phase.
func (r *run) idTokens(ctx context.Context) error {
	p := r.opts.Project
	if len(p.IDTokens) == 0 {
		return nil
	}
	if r.opts.IDTokens == nil {
		return fail(ExitConfig, "id_tokens: only a jetway server issues OIDC tokens, so no phase ran; deploy the project to a server (jetway deploy) or remove id_tokens from %s", filepath.Base(p.Path))
	}
	tokens, err := r.opts.IDTokens(ctx)
	if err != nil {
		return fail(ExitFailed, "getting the run's OIDC tokens (id_tokens) from the server, so no phase ran: %v", err)
	}
	var names []string
	for _, t := range p.IDTokens {
		v := tokens[t.Name]
		if v == "" {
			return fail(ExitFailed, "the server sent no OIDC token for id_tokens.%s, so no phase ran; is it older than this runner?", t.Name)
		}
		r.vars[t.Name] = v
		r.secrets = append(r.secrets, mask.Secret{Name: "id_tokens." + t.Name, Value: []byte(v)})
		names = append(names, t.Name)
	}
	r.bootstrapStep("id_tokens", fmt.Sprintf("OIDC tokens from the server in %s (masked in the log)", strings.Join(names, ", ")))
	return nil
}

// wireLog builds the chain every byte a phase or the build prints goes
// through, in this order: lockedWriter (phases and the build share it) →
// mask.Writer → lineWriter (a log event per line) → emit → Sink.
func (r *run) wireLog() {
	r.lines = &lineWriter{emit: r.emit}
	r.masked = r.matcher.Load().NewWriter(r.lines)
	r.out = &lockedWriter{w: r.masked}
}

// lockedWriter serialises writes to the masker, which phases and the
// build share.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// flush releases what the masker and the line splitter hold, at the end of
// a command.
func (r *run) flush() {
	r.out.mu.Lock()
	_ = r.masked.Flush()
	r.out.mu.Unlock()
	r.lines.Flush()
}

// gitFacts are the checkout's commit, branch and dirty state; ok is false
// outside a git checkout.
func (r *run) gitFacts(ctx context.Context) (api.Git, bool) {
	if g := r.opts.Git; g != nil {
		return *g, g.SHA != ""
	}
	return bundle.GitInfo(ctx, r.opts.SourceDir)
}
