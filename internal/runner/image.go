package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/registry"

	"github.com/jetway-dev/jetway/internal/build"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/hosts"
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
		// dev.jetway.project marks what a pool's GC may remove (the guard
		// sets it on the phases' builds too); jetway.project is older.
		Labels: map[string]string{"jetway.project": r.opts.Project.Project, hosts.LabelProject: r.opts.Project.Project},
	}
	if g := r.summary.Git; g.SHA != "" {
		opts.Labels["org.opencontainers.image.revision"] = g.SHA
		opts.Labels["jetway.branch"] = g.Branch
	}
	auth := r.registryAuth()
	if auth != nil {
		opts.Auth = map[string]registry.AuthConfig{auth.ServerAddress: *auth}
	}
	onStep := func(s build.Step) {
		r.flush()
		s.Instruction = r.mask(s.Instruction)
		r.emit(Event{Type: "step", Phase: "build", Step: &s, Duration: s.Duration})
	}
	var res *build.Result
	if img.Builder == config.BuilderClassic {
		r.emit(Event{Type: "command", Phase: "build", Message: fmt.Sprintf("docker build %s (%s, classic builder)", strings.Join(refs, " "), img.Dockerfile)})
		res, err = build.Build(ctx, c, opts, r.out, onStep)
	} else {
		if err := r.buildKitOptions(&opts); err != nil {
			return err
		}
		r.emit(Event{Type: "command", Phase: "build", Message: fmt.Sprintf("docker build %s (%s, BuildKit)", strings.Join(refs, " "), img.Dockerfile)})
		res, err = build.BuildKit(ctx, c, opts, r.out, onStep)
		if errors.Is(err, build.ErrNoBuildKit) {
			if len(img.Secrets) > 0 || len(img.SSH) > 0 || img.CacheFrom != "" {
				return fmt.Errorf("image build: %w; image.secrets, image.ssh and image.cache_from need it: use a Docker host with BuildKit (Docker 18.09 or later, Linux)", err)
			}
			r.emit(Event{Type: "warning", Phase: "build", Message: fmt.Sprintf("%v: building with the classic builder (RUN --mount needs BuildKit)", err)})
			res, err = build.Build(ctx, c, opts, r.out, onStep)
		}
	}
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

// buildKitOptions adds what only BuildKit uses: the file sync's shared
// key, build secrets, SSH keys and the registry cache.
func (r *run) buildKitOptions(opts *build.Options) error {
	img := r.opts.Project.Image
	// Stable per project and Docker host, so the host keeps one copy of
	// the project's context and each build sends only what changed.
	sum := sha256.Sum256([]byte(r.opts.Project.Project + "\x00" + r.summary.DockerHostURL))
	opts.SharedKey = "jetway-" + r.opts.Project.Project + "-" + hex.EncodeToString(sum[:8])
	if len(img.Secrets) > 0 {
		opts.Secrets = map[string][]byte{}
		for _, s := range r.secrets {
			if id, ok := strings.CutPrefix(s.Name, imageSecretPrefix); ok {
				opts.Secrets[id] = s.Value
			}
		}
	}
	if len(img.SSH) > 0 {
		key := r.vars["JETS_SSH_KEY"]
		if key == "" {
			return fail(ExitConfig, "image.ssh lists %s, but JETS_SSH_KEY is not set: the build's ssh agent serves that key; set JETS_SSH_KEY in env.vars", strings.Join(img.SSH, ", "))
		}
		opts.SSH = map[string][]byte{}
		for _, id := range img.SSH {
			opts.SSH[id] = dockerhost.NormalizeKey([]byte(key))
		}
	}
	if img.CacheFrom == "registry" {
		// The image carries its cache metadata; the next build, on this
		// host or a fresh one, imports it from what was pushed last.
		opts.InlineCache = true
		opts.CacheFrom = append(opts.CacheFrom, opts.Tags...)
	}
	return nil
}
