package runner

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/config"
)

// phases runs, in order: install, pre_build, the before_build hook, build
// (the image build first), the after_build hook, the before_release hook,
// release, the after_release hook and post_build, with CodeBuild's
// semantics: a phase stops at its first failing command; a failed phase
// skips the phases after it, but post_build runs whenever build was
// reached, failed or not; the run fails if any phase failed. Hooks and
// release appear only when the project has them.
func (r *run) phases(ctx context.Context, tags []string) error {
	p := r.opts.Project
	type phase struct {
		name string
		// present tells whether the phase has anything to do; a phase
		// without is not shown, but for the four phases of jetway.yaml,
		// which are shown skipped after a failure.
		present func() (bool, error)
		run     func(ctx context.Context, buildOK bool) error
	}
	commands := func(name string, list []string) phase {
		return phase{name: name,
			present: func() (bool, error) { return len(list) > 0, nil },
			run: func(ctx context.Context, buildOK bool) error {
				return r.runCommands(ctx, name, list, buildOK)
			}}
	}
	hook := func(name string) phase {
		return phase{name: name,
			present: func() (bool, error) { return r.hookPresent(name) },
			run:     func(ctx context.Context, buildOK bool) error { return r.runHook(ctx, name, buildOK) }}
	}
	build := phase{name: "build",
		present: func() (bool, error) { return len(p.Phases.Build) > 0 || p.Image != nil, nil },
		run: func(ctx context.Context, buildOK bool) error {
			if p.Image != nil {
				if err := r.buildImage(ctx, tags); err != nil {
					return err
				}
			}
			return r.runCommands(ctx, "build", p.Phases.Build, buildOK)
		}}
	release := phase{name: "release",
		present: func() (bool, error) { return p.Release != nil, nil },
		run:     func(ctx context.Context, _ bool) error { return r.release(ctx) }}
	list := []phase{
		commands("install", p.Phases.Install),
		commands("pre_build", p.Phases.PreBuild),
		hook(config.BeforeBuild),
		build,
		hook(config.AfterBuild),
		hook(config.BeforeRelease),
		release,
		hook(config.AfterRelease),
		commands("post_build", p.Phases.PostBuild),
	}
	shownSkipped := map[string]bool{"install": true, "pre_build": true, "build": true, "post_build": true}
	var firstErr error
	buildOK := true
	for _, ph := range list {
		skip := firstErr != nil && (ph.name != "post_build" || !buildReached(r.summary.Phases))
		if skip || ctx.Err() != nil {
			if ph.name == "release" && p.Release != nil {
				r.releaseStatus = "skipped"
			}
			present := shownSkipped[ph.name]
			if !present {
				// A hook's file is looked for; one that cannot be is
				// present enough to be shown skipped.
				var err error
				present, err = ph.present()
				present = present || err != nil
			}
			if present {
				r.summary.Phases = append(r.summary.Phases, PhaseResult{Name: ph.name, Status: "skipped"})
			}
			continue
		}
		present, presentErr := ph.present()
		if !present && presentErr == nil {
			continue
		}
		r.lines.setPhase(ph.name)
		r.emit(Event{Type: "phase_started", Phase: ph.name})
		start := time.Now()
		err := presentErr
		if err == nil {
			err = ph.run(ctx, buildOK)
		}
		status := "succeeded"
		if err != nil {
			status = "failed"
			if ctx.Err() != nil {
				status = string(Cancelled)
				if errors.Is(context.Cause(ctx), errTimedOut) {
					status = string(TimedOut)
				}
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("phase %s: %w", ph.name, err)
			}
			if ph.name == "build" {
				buildOK = false
			}
		}
		if ph.name == "release" {
			r.releaseStatus = "succeeded"
			if err != nil {
				r.releaseStatus = "failed"
			}
		}
		d := time.Since(start)
		r.summary.Phases = append(r.summary.Phases, PhaseResult{Name: ph.name, Status: status, Duration: d})
		r.emit(Event{Type: "phase_finished", Phase: ph.name, Status: status, Duration: d})
		r.lines.setPhase("")
	}
	return firstErr
}

// buildReached tells whether the build phase ran (post_build follows it
// even after a failure, not after a failed install or pre_build).
func buildReached(done []PhaseResult) bool {
	for _, p := range done {
		if p.Name == "build" {
			return p.Status != "skipped"
		}
	}
	return false
}

// dockerCredentialVars hold the runner's credentials to the Docker host.
var dockerCredentialVars = []string{"JETS_SSH_KEY", "DOCKER_TLS_CA", "DOCKER_TLS_CERT", "DOCKER_TLS_KEY"}

// phaseEnv is the scrubbed environment of phase commands.
func (r *run) phaseEnv(buildOK bool) []string {
	env := map[string]string{}
	for _, kv := range r.opts.PhaseEnv {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if env["PATH"] == "" {
		env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for k, v := range r.passed {
		env[k] = v
	}
	for k, v := range r.vars {
		env[k] = v
	}
	// Phases reach Docker only through the runner's socket, whatever the
	// scheme; the TLS settings belong to the runner's own connection.
	env["DOCKER_HOST"] = "unix://" + r.sb.socket
	delete(env, "DOCKER_TLS_VERIFY")
	delete(env, "DOCKER_CERT_PATH")
	if !r.opts.Docker.ExposeCredentials {
		// The runner's credentials to the Docker host: with them a phase
		// would bypass the guard.
		for _, name := range dockerCredentialVars {
			delete(env, name)
		}
	}
	env["HOME"] = r.sb.Home
	if r.sb.User != "" {
		env["USER"], env["LOGNAME"] = r.sb.User, r.sb.User
	}
	env["JETWAY_RUN_ID"] = r.opts.RunID
	env["JETWAY_BUILD_SUCCEEDING"] = "1"
	if !buildOK {
		env["JETWAY_BUILD_SUCCEEDING"] = "0"
	}
	if r.releaseStatus != "" {
		env["JETWAY_RELEASE_STATUS"] = r.releaseStatus // succeeded, failed or skipped
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// runCommands runs a phase's commands with /bin/sh -c in the workspace as
// the run user, each in its own process group, so a timeout or Ctrl-C
// kills everything a command started.
func (r *run) runCommands(ctx context.Context, phase string, commands []string, buildOK bool) error {
	env := r.phaseEnv(buildOK)
	for _, c := range commands {
		r.emit(Event{Type: "command", Phase: phase, Message: c})
		cmd := r.sb.Command(ctx, "/bin/sh", "-c", c)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = r.out, r.out
		cmd.SysProcAttr = ownProcessGroup()
		cmd.Cancel = func() error {
			stopGroup(cmd.Process, 3*time.Second)
			return nil
		}
		cmd.WaitDelay = 5 * time.Second
		err := cmd.Run()
		r.flush()
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) && ctx.Err() == nil {
				return fmt.Errorf("command %q exited with status %d", c, exit.ExitCode())
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("command %q: %w", c, err)
		}
	}
	return nil
}
