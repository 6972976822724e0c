package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dockerbuild "github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/jetway-dev/jetway/internal/api"
	controlapi "github.com/moby/buildkit/api/services/control"
)

// SessionEngine is the part of the Docker client a BuildKit build uses:
// the build, and the hijacked /session connection the daemon calls back
// through. Both go over the client's dialer, so on an ssh:// host they
// ride the one SSH connection.
type SessionEngine interface {
	Engine
	DialHijack(ctx context.Context, url, proto string, meta map[string][]string) (net.Conn, error)
	ClientVersion() string
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
}

// ErrNoBuildKit is returned by BuildKit when the daemon cannot build with
// BuildKit; the caller may build with Build instead.
var ErrNoBuildKit = errors.New("the Docker daemon does not offer BuildKit")

// minBuildKitAPI is the first Engine API with /session outside
// experimental mode.
const minBuildKitAPI = "1.39"

// BuildKit builds with the daemon's BuildKit through the Engine API: POST
// /build with version=2 and a session (file sync of the workspace,
// secrets, SSH agents, registry credentials) over POST /session. It writes
// one log line per step event to log and reports the steps as they finish
// through onStep (may be nil).
func BuildKit(ctx context.Context, engine SessionEngine, opts Options, log io.Writer, onStep func(Step)) (*Result, error) {
	if v := engine.ClientVersion(); v != "" && versions.LessThan(v, minBuildKitAPI) {
		return nil, fmt.Errorf("%w (Engine API %s; BuildKit needs %s)", ErrNoBuildKit, v, minBuildKitAPI)
	}
	// BuildKit runs RUN steps on the default bridge; a daemon started with
	// --bridge=none has none and fails them all ("network bridge not
	// found"), where the classic builder works.
	if _, err := engine.NetworkInspect(ctx, "bridge", network.InspectOptions{}); cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: the Docker host has no default bridge network (dockerd --bridge=none), which BuildKit's RUN steps need", ErrNoBuildKit)
	}
	start := time.Now()
	root, err := os.OpenRoot(opts.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("opening the build context: %w", err)
	}
	defer root.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := newSession(ctx, &workspaceFS{root: root}, opts)
	if err != nil {
		return nil, err
	}
	sent := opts.SessionBytes
	if sent == nil {
		sent = new(atomic.Int64)
	}
	sessionErr := make(chan error, 1)
	go func() {
		sessionErr <- s.Run(ctx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			conn, err := engine.DialHijack(ctx, "/session", proto, meta)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, sent: sent}, nil
		})
	}()
	defer func() {
		s.Close()
		<-sessionErr
	}()

	args := map[string]*string{}
	for k, v := range opts.BuildArgs {
		args[k] = &v
	}
	if opts.InlineCache {
		one := "1"
		args["BUILDKIT_INLINE_CACHE"] = &one
	}
	resp, err := engine.ImageBuild(ctx, nil, dockerbuild.ImageBuildOptions{
		Version:       dockerbuild.BuilderBuildKit,
		SessionID:     s.ID(),
		RemoteContext: "client-session",
		Tags:          opts.Tags,
		Dockerfile:    filepath.ToSlash(opts.Dockerfile),
		BuildArgs:     args,
		Target:        opts.Target,
		Platform:      opts.Platform,
		Labels:        opts.Labels,
		PullParent:    opts.PullAlways,
		CacheFrom:     opts.CacheFrom,
		AuthConfigs:   opts.Auth,
	})
	if err != nil {
		if noBuildKit(err) {
			return nil, fmt.Errorf("%w: %v", ErrNoBuildKit, err)
		}
		return nil, fmt.Errorf("starting the image build: %w", err)
	}
	defer resp.Body.Close()

	res := &Result{}
	report := newStatusReport(log, onStep)
	dec := json.NewDecoder(resp.Body)
	var buildErr error
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading the build output: %w", err)
		}
		switch {
		case m.Error != "":
			buildErr = &Error{Message: m.Error + RegistryHint(m.Error)}
		case m.ID == "moby.buildkit.trace" && len(m.Aux) > 0:
			var dt []byte
			if err := json.Unmarshal(m.Aux, &dt); err != nil {
				continue
			}
			var st controlapi.StatusResponse
			if err := st.UnmarshalVT(dt); err != nil {
				continue
			}
			report.update(&st)
		case m.ID == "moby.image.id" && len(m.Aux) > 0:
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				res.ImageID = aux.ID
			}
		case m.Stream != "":
			_, _ = io.WriteString(log, m.Stream)
		}
	}
	res.Steps = report.steps
	res.Duration = time.Since(start)
	res.ContextBytes = sent.Load()
	fmt.Fprintf(log, "build context: %s sent to the Docker host over the session\n", api.HumanBytes(res.ContextBytes))
	if buildErr != nil {
		return res, buildErr
	}
	if res.ImageID == "" {
		return res, &Error{Message: "the builder finished without reporting an image"}
	}
	return res, nil
}

// noBuildKit tells whether the daemon refused a BuildKit build as such
// (Windows daemons, BuildKit switched off, API too old).
func noBuildKit(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "buildkit") && (strings.Contains(msg, "not supported") || strings.Contains(msg, "not enabled") || strings.Contains(msg, "disabled")) ||
		strings.Contains(msg, "session") && strings.Contains(msg, "experimental")
}
