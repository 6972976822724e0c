package runner

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/sandbox"
)

// runSandbox is the run's sandbox (internal/sandbox does the privileged
// part) plus what the runner keeps in it: the Docker socket of the phases.
type runSandbox struct {
	*sandbox.Sandbox
	socket string // the Docker proxy the phases talk to
}

func newSandbox(ctx context.Context, cfg sandbox.Config, runID string, limits sandbox.Limits, opts ...sandbox.Option) (*runSandbox, error) {
	sb, err := sandbox.Create(ctx, cfg, runID, limits, opts...)
	if err != nil {
		return nil, err
	}
	return &runSandbox{Sandbox: sb, socket: filepath.Join(sb.Dir, "docker.sock")}, nil
}

// writeHomeFile writes data as a file of the run user at rel (slash
// separated) under the run's home. The runner is root and the home is the
// run's, so the file and its directories are made beneath the home
// without following links.
func (sb *runSandbox) writeHomeFile(rel string, data []byte, mode os.FileMode) error {
	root, err := os.OpenRoot(sb.Home)
	if err != nil {
		return err
	}
	defer root.Close()
	dir := path.Dir(rel)
	if dir != "." {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		for d := dir; d != "."; d = path.Dir(d) {
			if err := root.Lchown(d, sb.UID, sb.GID); err != nil {
				return err
			}
		}
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|oNoFollow, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Chown(sb.UID, sb.GID)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runnerDir is a directory in the sandbox that only the runner reads
// (root's, 0700): the Docker host's credentials live there.
func (sb *runSandbox) runnerDir() (string, error) {
	dir := filepath.Join(sb.Dir, "runner")
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("creating the runner's directory: %w", err)
	}
	return dir, nil
}

// readHomeFile reads rel under the run's home, beneath it; a missing file
// is empty.
func (sb *runSandbox) readHomeFile(rel string) ([]byte, error) {
	root, err := os.OpenRoot(sb.Home)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := root.ReadFile(rel)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return data, err
}

// limits are the project's limits for the sandbox.
func limits(p *config.Project) sandbox.Limits {
	return sandbox.Limits{MemoryBytes: p.Limits.MemoryBytes, PIDs: p.Limits.PIDs, CPUs: p.Limits.CPUs}
}

// limitsLine says which limits apply to the run and whose they are.
func limitsLine(asked, max, applied sandbox.Limits) string {
	line := applied.String()
	switch {
	case max == (sandbox.Limits{}):
		line += " (jetway.yaml's limits:; the machine sets none)"
	case applied == asked:
		line += " (jetway.yaml's limits:, within the machine's " + max.String() + ")"
	default:
		line += " (the machine's " + max.String() + " bound jetway.yaml's " + asked.String() + ")"
	}
	return line + "; the run's disk is not limited"
}
