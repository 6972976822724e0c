// Package build builds and pushes images through the Docker Engine API and
// reports, for every Dockerfile step, whether it came from the cache and
// how long it took.
package build

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distribution/reference"
	dockerbuild "github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"

	"github.com/jetway-dev/jetway/internal/api"
)

// Engine is the part of the Docker client a build uses.
type Engine interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options dockerbuild.ImageBuildOptions) (dockerbuild.ImageBuildResponse, error)
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (image.InspectResponse, error)
	DistributionInspect(ctx context.Context, imageRef, encodedRegistryAuth string) (registry.DistributionInspect, error)
}

var _ Engine = (*client.Client)(nil)

// Options describe one image build.
type Options struct {
	ContextDir string
	Dockerfile string // relative to ContextDir
	Tags       []string
	BuildArgs  map[string]string
	Target     string
	Platform   string
	Labels     map[string]string
	PullAlways bool
	// Auth holds registry credentials by server address, for pulls.
	Auth map[string]registry.AuthConfig

	// The rest is for BuildKit only.

	// SharedKey names the daemon's copy of the context between builds:
	// stable per project and Docker host, so a build sends only what
	// changed since the last one with the same key.
	SharedKey string
	// Secrets are served by id for RUN --mount=type=secret.
	Secrets map[string][]byte
	// SSH are private keys served by id through in-memory agents for RUN
	// --mount=type=ssh.
	SSH map[string][]byte
	// CacheFrom are images whose inline cache the build may reuse.
	CacheFrom []string
	// InlineCache writes cache metadata into the image, for CacheFrom of
	// later builds elsewhere.
	InlineCache bool
	// SessionBytes, when set, counts the bytes sent over the session.
	SessionBytes *atomic.Int64
}

// Step and Result are the wire types, so runs report them unchanged.
type (
	Step   = api.Step
	Result = api.BuildResult
)

var stepRE = regexp.MustCompile(`^Step (\d+)/(\d+) : (.*)`)

// message is one object of the Engine API's JSON progress stream.
type message struct {
	Stream      string                    `json:"stream"`
	Status      string                    `json:"status"`
	ID          string                    `json:"id"`
	Error       string                    `json:"error"`
	ErrorDetail *struct{ Message string } `json:"errorDetail"`
	Aux         json.RawMessage           `json:"aux"`
}

// Build runs the build, writing the builder's output to log, and reports
// the steps as they finish through onStep (may be nil).
func Build(ctx context.Context, engine Engine, opts Options, log io.Writer, onStep func(Step)) (*Result, error) {
	start := time.Now()
	tar, err := Context(opts.ContextDir, opts.Dockerfile)
	if err != nil {
		return nil, fmt.Errorf("packing the build context: %w", err)
	}
	defer tar.Close()
	args := map[string]*string{}
	for k, v := range opts.BuildArgs {
		args[k] = &v
	}
	sent := &countingReader{r: tar}
	resp, err := engine.ImageBuild(ctx, sent, dockerbuild.ImageBuildOptions{
		Tags:        opts.Tags,
		Dockerfile:  filepath.ToSlash(opts.Dockerfile),
		BuildArgs:   args,
		Target:      opts.Target,
		Platform:    opts.Platform,
		Labels:      opts.Labels,
		PullParent:  opts.PullAlways,
		AuthConfigs: opts.Auth,
		Remove:      true,
		ForceRemove: true,
		Version:     dockerbuild.BuilderV1,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the image build: %w", err)
	}
	defer resp.Body.Close()
	res := &Result{}
	// The engine has read the whole context once it answers.
	defer func() { res.ContextBytes = sent.n.Load() }()
	var current *Step
	var stepStart time.Time
	seenFrom := false
	finish := func() {
		if current != nil {
			current.Duration = time.Since(stepStart)
			res.Steps = append(res.Steps, *current)
			if onStep != nil {
				onStep(*current)
			}
			current = nil
		}
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading the build output: %w", err)
		}
		if m.Error != "" {
			finish()
			return res, &Error{Message: m.Error}
		}
		if len(m.Aux) > 0 {
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				res.ImageID = aux.ID
			}
		}
		if m.Status != "" && !strings.HasPrefix(m.Status, "Downloading") && !strings.HasPrefix(m.Status, "Extracting") && !strings.HasPrefix(m.Status, "Waiting") {
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			fmt.Fprintln(log, line)
		}
		if m.Stream == "" {
			continue
		}
		for _, line := range strings.SplitAfter(m.Stream, "\n") {
			if line == "" {
				continue
			}
			trimmed := strings.TrimSpace(line)
			if sm := stepRE.FindStringSubmatch(trimmed); sm != nil {
				finish()
				var n int
				fmt.Sscan(sm[1], &n)
				instr := sm[3]
				isFrom := strings.HasPrefix(strings.ToUpper(instr), "FROM ")
				cacheable := seenFrom && !isFrom
				seenFrom = seenFrom || isFrom
				current = &Step{Number: n, Instruction: instr, Cacheable: cacheable}
				stepStart = time.Now()
			}
			if trimmed == "---> Using cache" && current != nil {
				current.Cached = true
			}
			_, _ = io.WriteString(log, line)
		}
	}
	finish()
	res.Duration = time.Since(start)
	if res.ImageID == "" {
		return res, &Error{Message: "the builder finished without reporting an image"}
	}
	return res, nil
}

// Error is a failure reported by the builder or the registry.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

// EncodeAuth encodes registry credentials for the X-Registry-Auth header.
func EncodeAuth(a registry.AuthConfig) (string, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

func encodedAuth(auth *registry.AuthConfig) (string, error) {
	if auth == nil {
		// The daemon insists on a header, even an empty one.
		return base64.URLEncoding.EncodeToString([]byte("{}")), nil
	}
	return EncodeAuth(*auth)
}

// InRegistry tells whether the registry's ref already names the image
// that ref names locally: the tag's manifest digest, asked through the
// daemon (with its registry settings and our auth), is one of the local
// image's repository digests. Any doubt answers false.
func InRegistry(ctx context.Context, engine Engine, ref string, auth *registry.AuthConfig) (digest string, ok bool) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false
	}
	local, err := engine.ImageInspect(ctx, ref)
	if err != nil || len(local.RepoDigests) == 0 {
		return "", false
	}
	enc, err := encodedAuth(auth)
	if err != nil {
		return "", false
	}
	remote, err := engine.DistributionInspect(ctx, ref, enc)
	if err != nil {
		return "", false
	}
	want := remote.Descriptor.Digest.String()
	for _, rd := range local.RepoDigests {
		canonical, err := reference.ParseNormalizedNamed(rd)
		if err != nil {
			continue
		}
		if d, isDigested := canonical.(reference.Digested); isDigested && canonical.Name() == named.Name() && d.Digest().String() == want {
			return want, true
		}
	}
	return "", false
}

// Push pushes ref and returns the digest the registry reported.
func Push(ctx context.Context, engine Engine, ref string, auth *registry.AuthConfig, log io.Writer) (string, error) {
	enc, err := encodedAuth(auth)
	if err != nil {
		return "", err
	}
	rc, err := engine.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: enc})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	defer rc.Close()
	digest := ""
	dec := json.NewDecoder(rc)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("reading the push output: %w", err)
		}
		if m.Error != "" {
			return "", &Error{Message: fmt.Sprintf("pushing %s: %s", ref, m.Error)}
		}
		if len(m.Aux) > 0 {
			var aux struct{ Digest string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
		if m.Status != "" && (m.ID == "" || strings.Contains(m.Status, "Pushed") || strings.Contains(m.Status, "exists")) {
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			fmt.Fprintln(log, line)
		}
	}
	if digest == "" {
		return "", &Error{Message: fmt.Sprintf("pushing %s: the registry reported no digest", ref)}
	}
	return digest, nil
}

// countingReader counts the bytes read through it (the engine's client
// may read from another goroutine).
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
