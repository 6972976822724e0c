package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// releaseStopTimeout bounds the removal of a release container once the
// run is cancelled or the release ended.
const releaseStopTimeout = 30 * time.Second

// release runs release.command in the image the build phase has just
// built (and pushed), on the run's Docker host, as `docker run --rm` would:
// create, attach, start, wait, remove. Only the run variables release.env
// names reach the container; its output passes the masker like a phase's.
// A cancelled or timed-out run removes the container (force: the daemon
// kills it first), so nothing of the release outlives the run.
func (r *run) release(ctx context.Context) (err error) {
	rel := r.opts.Project.Release
	if r.summary.Build == nil || r.summary.Build.ImageID == "" {
		return fmt.Errorf("release: the build phase produced no image to run")
	}
	image := r.summary.Build.ImageID
	var env, names []string
	for _, name := range rel.Env {
		v, ok := r.vars[name]
		if !ok {
			v, ok = r.passed[name]
		}
		if !ok {
			r.emit(Event{Type: "warning", Phase: "release", Message: fmt.Sprintf("release.env: %s is not set in this run (env.pass found no such variable where jetway deploy ran), so the release does not get it", name)})
			continue
		}
		env = append(env, name+"="+v)
		names = append(names, name)
	}
	shown := r.summary.Image
	if r.summary.Digest != "" {
		shown += "@" + r.summary.Digest
	} else if len(r.summary.Tags) > 0 {
		shown += ":" + r.summary.Tags[0]
	}
	what := fmt.Sprintf("docker run --rm %s %s", shown, strings.Join(quoteWords(rel.Command), " "))
	if len(names) > 0 {
		what += " (with " + strings.Join(names, ", ") + ")"
	}
	r.emit(Event{Type: "command", Phase: "release", Message: what})

	c, err := r.host.NewClient()
	if err != nil {
		return err
	}
	defer c.Close()
	p := r.opts.Project
	created, err := c.ContainerCreate(ctx, &container.Config{
		Image: image, Cmd: rel.Command, Env: env,
		AttachStdout: true, AttachStderr: true,
		Labels: map[string]string{"jetway.run": r.opts.RunID, "jetway.project": p.Project, "jetway.phase": "release"},
	}, &container.HostConfig{Resources: container.Resources{Memory: p.Limits.MemoryBytes, PidsLimit: pidsLimit(p.Limits.PIDs)}}, nil, nil, "jetway-release-"+r.opts.RunID)
	if err != nil {
		return fmt.Errorf("creating the release container: %w", err)
	}
	defer func() {
		// Without the run's context, which may be over: the container
		// must go whatever happened. Force kills it if it still runs.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseStopTimeout)
		defer cancel()
		if rerr := c.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true}); rerr != nil {
			r.log.Error("removing the release container", "id", created.ID, "err", rerr)
			err = errors.Join(err, fmt.Errorf("removing the release container %.12s: %w", created.ID, rerr))
		}
	}()
	attached, err := c.ContainerAttach(ctx, created.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return fmt.Errorf("attaching to the release container: %w", err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = stdcopy.StdCopy(r.out, r.out, attached.Reader)
	}()
	defer func() {
		attached.Close()
		<-copied
		r.flush()
	}()
	waitC, waitErr := c.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := c.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("starting the release container: %w", err)
	}
	select {
	case res := <-waitC:
		// The output ends with the container; wait for its last bytes.
		select {
		case <-copied:
		case <-time.After(5 * time.Second):
		}
		if res.Error != nil {
			return fmt.Errorf("the release container: %s", res.Error.Message)
		}
		if res.StatusCode != 0 {
			return fmt.Errorf("release command %q exited with status %d", strings.Join(rel.Command, " "), res.StatusCode)
		}
		return nil
	case err := <-waitErr:
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("waiting for the release container: %w", err)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// pidsLimit is limits.pids for Docker: nil for none.
func pidsLimit(n int) *int64 {
	if n <= 0 {
		return nil
	}
	v := int64(n)
	return &v
}

// quoteWords renders words for the log, quoting those a shell would split.
func quoteWords(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\n'\"\\$`") {
			w = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		out[i] = w
	}
	return out
}
