// Package executor starts runners. Local runs each runner as a child
// process of this process (the server's or an agent's), in its own
// process group.
package executor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Launch is what a runner needs to find its run.
type Launch struct {
	RunID     string
	Token     string // the run token: reads this run's spec, bundle and references only
	ServerURL string
}

// Local starts `jetway runner-exec` child processes.
type Local struct {
	// Binary is the jetway executable.
	Binary string
	// LogDir receives each runner's own diagnostics (not the run's log).
	LogDir string
	// Grace is how long a cancelled runner has to clean up before it is
	// killed. Default 30s.
	Grace time.Duration
	// WorkDir and RunUIDs are the runners' sandbox settings ("" for the
	// defaults).
	WorkDir, RunUIDs string
	// Limits are the operator's limits of every run (--limits), as given.
	Limits string
	// AllowLocalDocker lets runs use this machine's Docker daemon.
	AllowLocalDocker bool
	// ParentDeathSignal is what a runner gets when the process that
	// started it dies; default SIGTERM, on which the runner cleans up and
	// reports its run cancelled. A remote agent wants SIGKILL: its runners
	// then die with it without reporting anything, and the server, which
	// no longer hears the agent's heartbeat, decides the runs' fate after
	// its lease timeout.
	ParentDeathSignal syscall.Signal
}

// Handle controls a started runner.
type Handle struct {
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	once  sync.Once
	grace time.Duration
}

// Start launches a runner. ctx does not bound the runner's life; use
// Handle.Stop.
func (l *Local) Start(_ context.Context, launch Launch) (*Handle, error) {
	if err := os.MkdirAll(l.LogDir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(l.LogDir, launch.RunID+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(l.Binary, "runner-exec")
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"HOME=/nonexistent",
		"JETWAY_SERVER=" + launch.ServerURL,
		"JETWAY_RUN_ID=" + launch.RunID,
		"JETWAY_RUN_TOKEN=" + launch.Token,
		"JETWAY_WORK_DIR=" + l.WorkDir,
		"JETWAY_RUN_UIDS=" + l.RunUIDs,
		"JETWAY_LIMITS=" + l.Limits,
	}
	if !l.AllowLocalDocker {
		cmd.Env = append(cmd.Env, "JETWAY_REFUSE_LOCAL_DOCKER=1")
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a stop reaches everything it started; and
	// a signal when its parent dies, so no runner outlives it unnoticed.
	cmd.SysProcAttr = processGroup(l.ParentDeathSignal)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting the runner: %w", err)
	}
	grace := l.Grace
	if grace == 0 {
		grace = 30 * time.Second
	}
	h := &Handle{cmd: cmd, done: make(chan struct{}), grace: grace}
	go func() {
		h.err = cmd.Wait()
		logFile.Close()
		// A runner that ended well has nothing to tell; keep the logs of
		// those that did not, for the operator.
		if h.err == nil {
			_ = os.Remove(logFile.Name())
		}
		close(h.done)
	}()
	return h, nil
}

// Stop asks the runner to cancel (SIGTERM: it cleans up and reports the run
// cancelled), and kills its process group if it has not ended after the
// grace period.
func (h *Handle) Stop() {
	h.once.Do(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		go func() {
			select {
			case <-h.done:
			case <-time.After(h.grace):
				killGroup(h.cmd.Process)
			}
		}()
	})
}

// Done is closed when the runner has exited.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Err is the runner's exit error, once Done is closed.
func (h *Handle) Err() error { return h.err }
