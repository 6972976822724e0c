// Package agent is the agent loop: it leases runs from the server, starts
// a runner for each, reports them in a heartbeat, stops those the server
// cancels, and drains on shutdown. It is the same code in `jetway agent`
// on another machine (over runproto's HTTP client) and inside `jetway
// server` (over the server's in-process Coordinator).
//
// The loop keeps up to Concurrency runs. While a slot is free it long-polls
// the Coordinator for a lease, one request at a time, so that a waiting
// agent gets a new run as soon as the server has one. Apart from it a
// heartbeat goes out every HeartbeatEvery with the runs that execute; the
// answer names runs to stop, and their runners get Handle.Stop.
//
// Faults:
//   - The server refuses the agent's token (revoked): the agent stops
//     leasing, stops its runs, and Run returns an error wrapping
//     runproto.ErrAgentRefused.
//   - Any other error of the Coordinator is taken for a passing one (the
//     server restarts, the network is down): the agent retries after a
//     pause growing from 200 ms to 5 s, and its runs go on, their
//     uploaders buffering events until the server is back.
//   - The agent dies (kill -9): its runners die with it (a launcher's
//     parent-death signal), its heartbeat stops, and the server fails its
//     runs after its lease timeout. The sandboxes they left are swept when
//     the agent starts again.
//
// Usage:
//
//	err := agent.Run(ctx, agent.Options{
//		Coordinator: runproto.NewCoordinatorClient(servers, token),
//		Info:        runproto.AgentInfo{Name: "build-1", Concurrency: 4},
//		Launcher:    agent.LocalLauncher(&executor.Local{…}),
//		ServerURL:   client.ServerList,
//		Sandbox:     &sandbox.Config{WorkDir: "/var/lib/jetway/work"},
//	})
//
// Cancelling ctx drains: no more leases, and the runs have DrainTimeout to
// finish (or until StopNow) before they are stopped.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/executor"
	"github.com/jetway-dev/jetway/internal/metrics"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/sandbox"
)

// Launcher starts the runner of a leased run. Start may be called
// concurrently with the Stop of other runs' handles. ctx does not bound
// the runner's life: only Handle.Stop ends it early.
type Launcher interface {
	Start(ctx context.Context, launch executor.Launch) (Handle, error)
}

// Handle controls a started runner. Stop asks it to end (it reports its run
// cancelled) and must be safe to call more than once, and after the runner
// has ended; it must not wait. Done is closed once the runner has exited,
// whatever ended it, and Err is its exit error after that.
type Handle interface {
	Stop()
	Done() <-chan struct{}
	Err() error
}

// LocalLauncher starts runners as child processes of this process, with
// l's settings.
func LocalLauncher(l *executor.Local) Launcher { return localLauncher{l} }

type localLauncher struct{ l *executor.Local }

func (ll localLauncher) Start(ctx context.Context, launch executor.Launch) (Handle, error) {
	h, err := ll.l.Start(ctx, launch)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return h, nil
}

// Options configure an agent. Coordinator, Info.Name, Launcher and
// ServerURL are required.
type Options struct {
	Coordinator runproto.Coordinator
	// Info is the agent as the server sees it; Info.Concurrency (at least
	// 1) is how many runs execute at once.
	Info     runproto.AgentInfo
	Launcher Launcher
	// ServerURL is the server a runner talks to (its JETWAY_SERVER), asked
	// at each launch: with several servers, the one that leased the run.
	ServerURL func() string
	Logger    *slog.Logger
	// DrainTimeout is how long the runs may go on after ctx ends before
	// they are stopped. Zero stops them at once.
	DrainTimeout time.Duration
	// StopNow, when closed, ends a drain early: the runs are stopped at
	// once (an operator's second Ctrl-C). Nil never ends it.
	StopNow <-chan struct{}
	// Sandbox is where the runners make their sandboxes: what dead runners
	// left there is removed at start. (The launcher passes the same
	// settings to the runners.) Nil sweeps nothing, for launchers that
	// make no sandboxes.
	Sandbox *sandbox.Config
	// HeartbeatEvery is the heartbeat's period (default
	// runproto.HeartbeatEvery).
	HeartbeatEvery time.Duration
	// Metrics, when set, counts the runners started and exited and the
	// failed requests to the server. Nil: none.
	Metrics *metrics.Agent
}

// Pauses after a failed request, doubling from retryMin up to retryMax.
const (
	retryMin = 200 * time.Millisecond
	retryMax = 5 * time.Second
)

// Run runs the agent until ctx ends and its runs have drained, or until the
// server refuses its token. It returns nil after a drain.
func Run(ctx context.Context, opts Options) error {
	if err := opts.check(); err != nil {
		return err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HeartbeatEvery <= 0 {
		opts.HeartbeatEvery = runproto.HeartbeatEvery
	}
	// An agent that died left its runners' sandboxes (their runners died
	// with it); nothing of those runs may live on into this agent's.
	if opts.Sandbox != nil {
		if err := sandbox.Sweep(ctx, *opts.Sandbox); err != nil {
			opts.Logger.Warn("removing sandboxes left by runs of an earlier agent", "err", err)
		}
	}
	a := &agent{opts: opts, log: opts.Logger.With("agent", opts.Info.Name), runs: map[string]*run{}, freed: make(chan struct{}, 1)}
	return a.run(ctx)
}

func (o *Options) check() error {
	switch {
	case o.Coordinator == nil:
		return errors.New("agent: no coordinator")
	case o.Launcher == nil:
		return errors.New("agent: no launcher")
	case o.ServerURL == nil:
		return errors.New("agent: no server URL")
	case o.Info.Name == "":
		return errors.New("agent: no name")
	case o.Info.Concurrency < 1:
		return fmt.Errorf("agent %q: concurrency %d; want at least 1", o.Info.Name, o.Info.Concurrency)
	}
	return nil
}

// run is a runner the agent started.
type run struct {
	h       Handle
	stopped bool // Stop was called
}

type agent struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	runs  map[string]*run // by run id, while the runner lives
	wg    sync.WaitGroup  // one per run in runs
	freed chan struct{}   // capacity 1: a run ended
}

func (a *agent) run(ctx context.Context) error {
	// leasing ends with ctx (a drain) or with the server's refusal, whose
	// error is its cause.
	leasing, stopLeasing := context.WithCancelCause(ctx)
	defer stopLeasing(nil)
	// The heartbeat goes on while the runs drain, so that the server keeps
	// their leases and its cancellations still reach them.
	beating, stopBeating := context.WithCancel(context.WithoutCancel(ctx))
	heartbeatDone := make(chan struct{})
	go func() {
		defer close(heartbeatDone)
		a.heartbeat(beating, stopLeasing)
	}()
	a.log.Info("agent started", "concurrency", a.opts.Info.Concurrency, "labels", config.LabelString(a.opts.Info.Labels))
	a.opts.Metrics.Concurrency(a.opts.Info.Concurrency)
	a.lease(leasing, stopLeasing)
	a.opts.Metrics.Draining()

	refused := context.Cause(leasing)
	if !errors.Is(refused, runproto.ErrAgentRefused) {
		refused = nil
		a.drain()
	}
	if refused != nil {
		a.log.Error("the server refused this agent's token; stopping its runs", "err", refused)
		a.stopAll()
	}
	a.wg.Wait()
	stopBeating()
	<-heartbeatDone
	if refused != nil {
		return fmt.Errorf("agent %q stopped: %w", a.opts.Info.Name, refused)
	}
	a.log.Info("agent stopped")
	return nil
}

// lease keeps the slots filled until ctx ends.
func (a *agent) lease(ctx context.Context, refuse context.CancelCauseFunc) {
	pause := retryMin
	failing := false // the last request failed
	for {
		if !a.waitForSlot(ctx) {
			return
		}
		lease, err := a.opts.Coordinator.Lease(ctx, runproto.LeaseRequest{Agent: a.opts.Info, Running: a.running()})
		if err == nil {
			failing = false
		}
		switch {
		case errors.Is(err, runproto.ErrAgentRefused):
			refuse(err)
			return
		case err == nil && lease != nil:
			// Started even if a drain began meanwhile: the server has
			// handed the run over, and the drain gives it its time.
			if err = a.start(ctx, lease); err == nil {
				pause = retryMin
				continue
			}
			// A launcher that cannot start runners must not lease the
			// whole queue away: the server requeues a run leased but not
			// started, once.
			a.log.Error("starting a runner failed", "run", lease.RunID, "err", err, "retry_in", pause)
		case ctx.Err() != nil:
			return
		case err != nil:
			// Once per outage; the heartbeat says when the server is back.
			level := slog.LevelWarn
			if failing {
				level = slog.LevelDebug
			}
			failing = true
			a.opts.Metrics.ServerError("lease")
			a.log.Log(ctx, level, "asking the server for a run failed; retrying", "err", err, "retry_in", pause)
		default:
			pause = retryMin // nothing came within the wait: ask again at once
			continue
		}
		if !sleep(ctx, pause) {
			return
		}
		pause = min(2*pause, retryMax)
	}
}

// waitForSlot waits until fewer than Concurrency runs execute; false when
// ctx ended first.
func (a *agent) waitForSlot(ctx context.Context) bool {
	for {
		a.mu.Lock()
		n := len(a.runs)
		a.mu.Unlock()
		if n < a.opts.Info.Concurrency {
			return ctx.Err() == nil
		}
		select {
		case <-a.freed:
		case <-ctx.Done():
			return false
		}
	}
}

// start launches lease's runner and watches it until it exits.
func (a *agent) start(ctx context.Context, lease *runproto.Lease) error {
	log := a.log.With("run", lease.RunID, "project", lease.Project)
	h, err := a.opts.Launcher.Start(ctx, executor.Launch{RunID: lease.RunID, Token: lease.RunToken, ServerURL: a.opts.ServerURL()})
	if err != nil {
		return err
	}
	log.Info("run started")
	a.opts.Metrics.RunnerStarted()
	a.mu.Lock()
	a.runs[lease.RunID] = &run{h: h}
	a.wg.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.wg.Done()
		<-h.Done()
		a.opts.Metrics.RunnerExited(h.Err())
		if err := h.Err(); err != nil {
			log.Warn("the runner exited with an error", "err", err)
		} else {
			log.Info("run ended")
		}
		a.mu.Lock()
		delete(a.runs, lease.RunID)
		a.mu.Unlock()
		select {
		case a.freed <- struct{}{}:
		default:
		}
	}()
	return nil
}

// running is the ids of the runs that execute, sorted.
func (a *agent) running() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]string, 0, len(a.runs))
	for id := range a.runs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// heartbeat reports the agent's runs every HeartbeatEvery until ctx ends,
// and stops those the server names. A refusal ends the leasing.
func (a *agent) heartbeat(ctx context.Context, refuse context.CancelCauseFunc) {
	tick := time.NewTicker(a.opts.HeartbeatEvery)
	defer tick.Stop()
	var failing error // the last failure, while the server cannot be reached
	for {
		resp, err := a.opts.Coordinator.Heartbeat(ctx, runproto.HeartbeatRequest{Agent: a.opts.Info, Running: a.running()})
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, runproto.ErrAgentRefused):
			refuse(err)
		case err != nil:
			a.opts.Metrics.ServerError("heartbeat")
			// Once per outage, not every second.
			if failing == nil {
				a.log.Warn("the heartbeat failed; runs go on, and their events wait for the server", "err", err)
			}
			failing = err
		default:
			if failing != nil {
				a.log.Info("the heartbeat reached the server again")
				failing = nil
			}
			a.cancel(resp.Cancel)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// cancel stops the runners of the runs named.
func (a *agent) cancel(ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		// The server says it again at every heartbeat until the runner
		// has ended.
		if r, ok := a.runs[id]; ok && !r.stopped {
			a.log.Info("the server cancelled the run; stopping its runner", "run", id)
			r.stop()
		}
	}
}

// drain waits up to DrainTimeout for the runs to end, then stops them.
func (a *agent) drain() {
	if n := len(a.running()); n > 0 {
		a.log.Info("draining: no more runs are leased; waiting for the running ones", "runs", n, "timeout", a.opts.DrainTimeout)
	}
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	default:
	}
	timer := time.NewTimer(a.opts.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		if left := a.running(); len(left) > 0 {
			a.log.Warn("the drain timeout has passed; stopping the runs left", "runs", left)
			a.stopAll()
		}
	case <-a.opts.StopNow:
		a.log.Warn("told to stop now; stopping the runs left", "runs", a.running())
		a.stopAll()
	}
}

func (a *agent) stopAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.runs {
		r.stop()
	}
}

func (r *run) stop() {
	r.stopped = true
	r.h.Stop()
}

// sleep waits for d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
