package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/registry"

	"github.com/jetway-dev/jetway/internal/build"
)

// buildImage builds the image on the Docker host, then pushes its tags.
func (r *run) buildImage(ctx context.Context, tags []string) error {
	img := r.opts.Project.Image
	c, err := r.host.NewClient()
	if err != nil {
		return err
	}
	defer c.Close()
	refs := make([]string, len(tags))
	for i, t := range tags {
		refs[i] = img.Name + ":" + t
	}
	opts := build.Options{
		ContextDir: r.sb.Workspace, Dockerfile: img.Dockerfile, Tags: refs, BuildArgs: img.BuildArgs,
		Target: img.Target, Platform: img.Platform, PullAlways: img.Pull == "always",
		Labels: map[string]string{"jetway.project": r.opts.Project.Project},
	}
	if g := r.summary.Git; g.SHA != "" {
		opts.Labels["org.opencontainers.image.revision"] = g.SHA
		opts.Labels["jetway.branch"] = g.Branch
	}
	auth := r.registryAuth()
	if auth != nil {
		opts.Auth = map[string]registry.AuthConfig{auth.ServerAddress: *auth}
	}
	r.emit(Event{Type: "command", Phase: "build", Message: fmt.Sprintf("docker build %s (%s)", strings.Join(refs, " "), img.Dockerfile)})
	res, err := build.Build(ctx, c, opts, r.out, func(s build.Step) {
		r.flush()
		s.Instruction = r.mask(s.Instruction)
		r.emit(Event{Type: "step", Phase: "build", Step: &s, Duration: s.Duration})
	})
	r.flush()
	r.summary.Build = res
	if err != nil {
		return fmt.Errorf("image build: %w", err)
	}
	if !img.Push {
		return nil
	}
	start := time.Now()
	for _, ref := range refs {
		// A tag that already names this very image in the registry needs no
		// push: a rebuild with nothing changed keeps the image and its digest.
		if digest, ok := build.InRegistry(ctx, c, ref, auth); ok {
			r.emit(Event{Type: "command", Phase: "build", Message: "docker push " + ref + ": skipped, the registry has this image already (" + digest + ")"})
			r.summary.Digest = digest
			continue
		}
		r.emit(Event{Type: "command", Phase: "build", Message: "docker push " + ref})
		digest, err := build.Push(ctx, c, ref, auth, r.out)
		r.flush()
		if err != nil {
			return err
		}
		r.summary.Digest = digest
	}
	r.summary.PushDuration = time.Since(start)
	return nil
}
