package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/hosts"
	"github.com/jetway-dev/jetway/internal/mask"
)

// hostVars are the run variables a pool's host gives its run, from the
// host's credential references; they are what a project naming its
// DOCKER_HOST sets in env.vars.
var hostVars = []string{"JETS_SSH_KEY", "JETS_SSH_KNOWN", "DOCKER_TLS_CA", "DOCKER_TLS_CERT", "DOCKER_TLS_KEY"}

func candidateRefs(c api.HostCandidate) map[string]string {
	return map[string]string{"JETS_SSH_KEY": c.SSHKey, "JETS_SSH_KNOWN": c.KnownHosts,
		"DOCKER_TLS_CA": c.TLSCA, "DOCKER_TLS_CERT": c.TLSCert, "DOCKER_TLS_KEY": c.TLSKey}
}

// poolRefs are the references of the candidate hosts' credentials, by
// host and variable.
func (r *run) poolRefs() (map[string]map[string]config.Ref, error) {
	a := r.opts.DockerHost
	if a == nil {
		if pool := r.opts.Project.DockerPool; pool != "" {
			return nil, fail(ExitConfig, "docker_host: {pool: %s}: a pool's host is chosen by the jetway server that knows the pool, so run it with jetway deploy; jetway run on this machine needs env.vars.DOCKER_HOST instead", pool)
		}
		return nil, nil
	}
	out := map[string]map[string]config.Ref{}
	for _, c := range a.Candidates {
		out[c.Name] = map[string]config.Ref{}
		for name, value := range candidateRefs(c) {
			if value == "" {
				continue
			}
			ref, ok, err := config.ParseRef(value)
			if err != nil || !ok {
				return nil, fail(ExitConfig, "docker host %s of pool %s: %s is not a parameter store reference (%v); an operator fixes it with jetway hosts set %s", c.Name, a.Pool, value, err, c.Name)
			}
			out[c.Name][name] = ref
		}
	}
	return out, nil
}

// poolSecrets are the candidates' credentials that the log masks whatever
// their parameter type: keys are secrets by what they are.
func poolSecret(host, name string, value []byte) (mask.Secret, bool) {
	if name == "JETS_SSH_KEY" || name == "DOCKER_TLS_KEY" {
		return mask.Secret{Name: fmt.Sprintf("%s of docker host %s", name, host), Value: value}, true
	}
	return mask.Secret{}, false
}

// openPoolHost builds on the first candidate of the server's choice that
// answers, and says in the log which host it got and why.
func (r *run) openPoolHost(ctx context.Context) (hostSpec, error) {
	a := r.opts.DockerHost
	if len(a.Candidates) == 0 {
		why := ""
		for i, h := range a.Skipped {
			sep := "; "
			if i == 0 {
				sep = ": "
			}
			why += sep + h.Name + ": " + h.Reason
		}
		return hostSpec{}, fail(ExitUnreachable, "docker_host: no Docker host of pool %s can take the run%s; an operator adds one with jetway hosts add NAME --url URL --pool %s, or undrains one (jetway hosts ls shows them)", a.Pool, why, a.Pool)
	}
	passed := append([]api.SkippedHost(nil), a.Skipped...)
	var errs []string
	for _, c := range a.Candidates {
		for _, name := range hostVars {
			delete(r.vars, name)
		}
		for name, value := range r.poolCreds[c.Name] {
			r.vars[name] = value
		}
		r.vars["DOCKER_HOST"] = c.URL
		hs, err := r.openHost(ctx)
		if err == nil {
			gc := c.GC
			r.hostGC = &gc
			r.summary.DockerHostName = c.Name
			r.summary.DockerHostChoice = hosts.Describe(c.Name, passed)
			home := ""
			if c.Home {
				home = ", the project's home"
			}
			r.bootstrapStep("docker pool", fmt.Sprintf("pool %s: docker host %s%s", a.Pool, r.summary.DockerHostChoice, home))
			return hs, nil
		}
		if r.host != nil {
			r.host.Close()
			r.host = nil
		}
		reason := unwrapAll(err)
		passed = append(passed, api.SkippedHost{Name: c.Name, Reason: reason})
		errs = append(errs, c.Name+": "+reason)
		r.emit(Event{Type: "warning", Message: fmt.Sprintf("docker host %s of pool %s: %s; trying the next", c.Name, a.Pool, reason)})
	}
	return hostSpec{}, fail(ExitUnreachable, "no Docker host of pool %s answered: %s", a.Pool, strings.Join(errs, "; "))
}

// unwrapAll is an error's innermost message, short enough for the log's
// "b2 (b1: connection refused)".
func unwrapAll(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// collect runs the pool host's GC and reports it; a failed collection
// is a warning, never a failed run.
func (r *run) collect(ctx context.Context, reason string, always bool) {
	if r.hostGC == nil || r.host == nil {
		return
	}
	// Before the build, a host without limits has nothing to admit; the
	// measuring costs a disk-usage scan.
	if p := *r.hostGC; !always && p.MaxUsed == 0 && p.MinFree == 0 && p.MinFreePercent == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	c, err := r.host.NewClient()
	if err != nil {
		r.emit(Event{Type: "warning", Message: "docker host gc: " + err.Error()})
		return
	}
	defer c.Close()
	report, err := hosts.Collect(ctx, c, *r.hostGC, hosts.GCOptions{Reason: reason, Always: always,
		Free: func(ctx context.Context) (int64, int64, error) { return hosts.DiskFree(ctx, r.host) }})
	if err != nil {
		r.emit(Event{Type: "warning", Message: fmt.Sprintf("docker host gc %s: %v", reason, err)})
	}
	freed := len(report.Images) > 0 || report.BuildCacheFreed > 0
	// After the run it is reported even when it freed nothing: the
	// server shows when the host was last collected.
	if always || freed || err != nil {
		r.summary.GC = append(r.summary.GC, report)
	}
	if !freed {
		return
	}
	r.bootstrapStep("docker host gc", fmt.Sprintf("%s: freed %s (%d image(s) jetway built, %s of build cache); jetway's images and build cache %s → %s",
		reason, api.HumanBytes(report.ImagesFreed+report.BuildCacheFreed), len(report.Images), api.HumanBytes(report.BuildCacheFreed),
		api.HumanBytes(report.UsedBefore), api.HumanBytes(report.UsedAfter)))
}
