package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/executor"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/sandbox"
)

// leaseAnswer is what the fake server answers one lease request with.
type leaseAnswer struct {
	lease *runproto.Lease
	err   error
}

// fakeCoordinator is the server's half of the protocol as a test drives
// it: each Lease waits for an answer the test sends on leases (a long
// poll), and Heartbeat answers with what the test set.
type fakeCoordinator struct {
	leases chan leaseAnswer

	mu         sync.Mutex
	leaseReqs  []runproto.LeaseRequest
	leaseTimes []time.Time
	beats      []runproto.HeartbeatRequest
	cancel     []string // answered to every heartbeat
	beatErr    error
}

func newFakeCoordinator() *fakeCoordinator {
	return &fakeCoordinator{leases: make(chan leaseAnswer)}
}

func (f *fakeCoordinator) Lease(ctx context.Context, req runproto.LeaseRequest) (*runproto.Lease, error) {
	f.mu.Lock()
	f.leaseReqs = append(f.leaseReqs, req)
	f.leaseTimes = append(f.leaseTimes, time.Now())
	f.mu.Unlock()
	select {
	case a := <-f.leases:
		return a.lease, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeCoordinator) Heartbeat(_ context.Context, req runproto.HeartbeatRequest) (*runproto.HeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beats = append(f.beats, req)
	if f.beatErr != nil {
		return nil, f.beatErr
	}
	return &runproto.HeartbeatResponse{Cancel: f.cancel}, nil
}

func (f *fakeCoordinator) set(cancel []string, beatErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancel, f.beatErr = cancel, beatErr
}

func (f *fakeCoordinator) leaseCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.leaseReqs)
}

func (f *fakeCoordinator) lastBeat() (runproto.HeartbeatRequest, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.beats) == 0 {
		return runproto.HeartbeatRequest{}, 0
	}
	return f.beats[len(f.beats)-1], len(f.beats)
}

// give answers the next lease request with a run.
func (f *fakeCoordinator) give(t *testing.T, id string) {
	t.Helper()
	select {
	case f.leases <- leaseAnswer{lease: &runproto.Lease{RunID: id, Project: "p-" + id, RunToken: "jwr_" + id}}:
	case <-time.After(5 * time.Second):
		t.Fatalf("the agent did not ask for a run to take %s", id)
	}
}

// fakeRun is a runner the test ends, or Stop ends.
type fakeRun struct {
	launch   executor.Launch
	stopped  chan struct{} // closed by Stop
	done     chan struct{}
	stopOnce sync.Once
	doneOnce sync.Once
	// ignoreStop keeps the runner going after Stop until the test ends it.
	ignoreStop bool
	stops      atomic.Int32 // calls of Stop
}

func (r *fakeRun) Stop() {
	r.stops.Add(1)
	r.stopOnce.Do(func() {
		close(r.stopped)
		if !r.ignoreStop {
			r.finish()
		}
	})
}
func (r *fakeRun) Done() <-chan struct{} { return r.done }
func (r *fakeRun) Err() error            { return nil }

// finish ends the runner as if its run had ended by itself.
func (r *fakeRun) finish() { r.doneOnce.Do(func() { close(r.done) }) }

func (r *fakeRun) wasStopped() bool {
	select {
	case <-r.stopped:
		return true
	default:
		return false
	}
}

type fakeLauncher struct {
	started    chan *fakeRun
	err        error
	ignoreStop bool

	mu  sync.Mutex
	all []*fakeRun
}

func newFakeLauncher() *fakeLauncher { return &fakeLauncher{started: make(chan *fakeRun, 100)} }

func (l *fakeLauncher) Start(_ context.Context, launch executor.Launch) (Handle, error) {
	if l.err != nil {
		return nil, l.err
	}
	r := &fakeRun{launch: launch, stopped: make(chan struct{}), done: make(chan struct{}), ignoreStop: l.ignoreStop}
	l.mu.Lock()
	l.all = append(l.all, r)
	l.mu.Unlock()
	l.started <- r
	return r, nil
}

// finishAll ends every runner started.
func (l *fakeLauncher) finishAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.all {
		r.finish()
	}
}

// next is the next runner started.
func (l *fakeLauncher) next(t *testing.T) *fakeRun {
	t.Helper()
	select {
	case r := <-l.started:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no runner started")
		return nil
	}
}

type started struct {
	coord    *fakeCoordinator
	launcher *fakeLauncher
	cancel   context.CancelFunc
	result   chan error
	log      *logBuffer // what the agent logged
}

// logBuffer holds what an agent logs, for a test to wait for a line.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs an agent until the test ends.
func start(t *testing.T, concurrency int, drain time.Duration, launcher *fakeLauncher, modify ...func(*Options)) *started {
	t.Helper()
	s := &started{coord: newFakeCoordinator(), launcher: launcher, result: make(chan error, 1), log: &logBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	opts := Options{
		Coordinator:    s.coord,
		Info:           runproto.AgentInfo{Name: "build-1", Labels: map[string]string{"pool": "builders"}, Concurrency: concurrency},
		Launcher:       launcher,
		ServerURL:      func() string { return "http://jetway.test:7070" },
		DrainTimeout:   drain,
		Sandbox:        &sandbox.Config{WorkDir: workDir(t)},
		HeartbeatEvery: 10 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(s.log, nil)),
	}
	for _, m := range modify {
		m(&opts)
	}
	go func() { s.result <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		launcher.finishAll() // the runs a test left going
		select {
		case <-s.result:
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop")
		}
	})
	return s
}

// wait is Run's result.
func (s *started) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.result:
		s.result <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not return")
		return nil
	}
}

func (s *started) running(t *testing.T) bool {
	t.Helper()
	select {
	case err := <-s.result:
		s.result <- err
		return false
	default:
		return true
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// moreBeats waits for n heartbeats after the last one so far: the agent's
// own clock, on which a test sees that something has not happened while
// the agent went on.
func (s *started) moreBeats(t *testing.T, n int) runproto.HeartbeatRequest {
	t.Helper()
	_, beats := s.coord.lastBeat()
	var last runproto.HeartbeatRequest
	eventually(t, fmt.Sprintf("%d more heartbeats", n), func() bool {
		b, now := s.coord.lastBeat()
		last = b
		return now >= beats+n
	})
	return last
}

// heartbeats counts the goroutines that run an agent's heartbeat.
func heartbeats() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "agent.(*agent).heartbeat(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func TestSlotsAreRespected(t *testing.T) {
	s := start(t, 2, time.Minute, newFakeLauncher())
	s.coord.give(t, "r1")
	r1 := s.launcher.next(t)
	if want := (executor.Launch{RunID: "r1", Token: "jwr_r1", ServerURL: "http://jetway.test:7070"}); r1.launch != want {
		t.Errorf("launch = %+v, want %+v", r1.launch, want)
	}
	s.coord.give(t, "r2")
	r2 := s.launcher.next(t)

	// Both slots are taken: no lease request goes out after the two
	// that brought the runs, while the agent, holding both, beats on.
	eventually(t, "a heartbeat reports both runs", func() bool {
		b, _ := s.coord.lastBeat()
		return slices.Equal(b.Running, []string{"r1", "r2"})
	})
	s.moreBeats(t, 3)
	if n := s.coord.leaseCalls(); n != 2 {
		t.Fatalf("the agent asked for a run %d times with every slot taken", n-2)
	}

	// A run ends: the agent asks at once, reporting the run left.
	r1.finish()
	s.coord.give(t, "r3")
	r3 := s.launcher.next(t)
	s.coord.mu.Lock()
	last := s.coord.leaseReqs[len(s.coord.leaseReqs)-1]
	s.coord.mu.Unlock()
	want := runproto.LeaseRequest{Agent: runproto.AgentInfo{Name: "build-1", Labels: map[string]string{"pool": "builders"}, Concurrency: 2}, Running: []string{"r2"}}
	if !reflect.DeepEqual(last, want) {
		t.Errorf("lease request = %+v, want %+v", last, want)
	}
	r2.finish()
	r3.finish()
	if r1.wasStopped() || r2.wasStopped() || r3.wasStopped() {
		t.Error("a run was stopped")
	}
}

// A waiting agent takes a run the moment the server hands it over.
func TestAWaitingAgentStartsARunAtOnce(t *testing.T) {
	s := start(t, 1, time.Minute, newFakeLauncher())
	// Two empty long polls first: the agent asks again without pausing.
	for range 2 {
		select {
		case s.coord.leases <- leaseAnswer{}:
		case <-time.After(5 * time.Second):
			t.Fatal("no lease request")
		}
	}
	handed := time.Now()
	s.coord.give(t, "r1")
	s.launcher.next(t).finish()
	if d := time.Since(handed); d > 100*time.Millisecond {
		t.Errorf("the run started %s after the server handed it over (after two empty polls)", d)
	}
}

func TestCancelReachesTheRun(t *testing.T) {
	s := start(t, 2, time.Minute, newFakeLauncher())
	s.coord.give(t, "r1")
	r1 := s.launcher.next(t)
	s.coord.give(t, "r2")
	r2 := s.launcher.next(t)
	s.coord.set([]string{"r1", "unknown"}, nil)
	select {
	case <-r1.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled run was not stopped")
	}
	s.coord.set(nil, nil)
	if r2.wasStopped() {
		t.Error("a run the server did not cancel was stopped")
	}
	// Its slot is free again.
	s.coord.give(t, "r3")
	s.launcher.next(t)
}

// The server names a cancelled run at every heartbeat until its runner
// has ended; the runner is stopped once.
func TestCancelStopsOnce(t *testing.T) {
	l := newFakeLauncher()
	l.ignoreStop = true // a runner that takes its time to clean up
	s := start(t, 1, time.Minute, l)
	s.coord.give(t, "r1")
	r1 := s.launcher.next(t)
	s.coord.set([]string{"r1"}, nil)
	<-r1.stopped
	_, beats := s.coord.lastBeat()
	eventually(t, "five more heartbeats", func() bool { _, n := s.coord.lastBeat(); return n > beats+5 })
	if n := r1.stops.Load(); n != 1 {
		t.Errorf("Stop called %d times", n)
	}
	r1.finish()
}

func TestDrain(t *testing.T) {
	t.Run("the runs finish within the timeout", func(t *testing.T) {
		s := start(t, 2, time.Minute, newFakeLauncher())
		s.coord.give(t, "r1")
		r1 := s.launcher.next(t)
		eventually(t, "the next lease request", func() bool { return s.coord.leaseCalls() == 2 })
		s.cancel()
		// The heartbeat goes on while the run drains.
		_, beats := s.coord.lastBeat()
		eventually(t, "a heartbeat while draining", func() bool {
			b, n := s.coord.lastBeat()
			return n > beats+1 && slices.Equal(b.Running, []string{"r1"})
		})
		if !s.running(t) {
			t.Fatal("Run returned before its run ended")
		}
		r1.finish()
		if err := s.wait(t); err != nil {
			t.Fatalf("Run = %v after a drain", err)
		}
		if r1.wasStopped() {
			t.Error("a run that finished within the drain timeout was stopped")
		}
		if n := s.coord.leaseCalls(); n != 2 {
			t.Errorf("%d lease requests after the drain began", n-2)
		}
		if n := heartbeats(); n != 0 {
			t.Errorf("%d heartbeats go on after Run returned", n)
		}
	})
	t.Run("the timeout stops the runs", func(t *testing.T) {
		l := newFakeLauncher()
		l.ignoreStop = true // the runner takes a while to stop, and Run waits for it
		s := start(t, 2, 100*time.Millisecond, l)
		s.coord.give(t, "r1")
		r1 := s.launcher.next(t)
		s.cancel()
		select {
		case <-r1.stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("the run was not stopped after the drain timeout")
		}
		// Run waits for the runner, beating on.
		if b := s.moreBeats(t, 2); !s.running(t) || !slices.Equal(b.Running, []string{"r1"}) {
			t.Fatalf("Run returned before the stopped runner exited (or its heartbeat lost it: %v)", b.Running)
		}
		r1.finish()
		if err := s.wait(t); err != nil {
			t.Fatalf("Run = %v after a drain", err)
		}
	})
	t.Run("stop now", func(t *testing.T) {
		stopNow := make(chan struct{})
		s := start(t, 2, time.Hour, newFakeLauncher(), func(o *Options) { o.StopNow = stopNow })
		s.coord.give(t, "r1")
		r1 := s.launcher.next(t)
		s.cancel()
		eventually(t, "the agent to drain", func() bool { return strings.Contains(s.log.String(), "draining:") })
		s.moreBeats(t, 2)
		if r1.wasStopped() {
			t.Fatal("the run was stopped before StopNow")
		}
		close(stopNow)
		if err := s.wait(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if !r1.wasStopped() {
			t.Error("the run was not stopped")
		}
	})
	t.Run("no runs", func(t *testing.T) {
		s := start(t, 2, time.Hour, newFakeLauncher())
		eventually(t, "a lease request", func() bool { return s.coord.leaseCalls() > 0 })
		s.cancel()
		if err := s.wait(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestRefusedToken(t *testing.T) {
	refused := errors.Join(errors.New("http://jetway.test:7070"), runproto.ErrAgentRefused)
	for _, tc := range []struct {
		name   string
		refuse func(s *started)
	}{
		{"at a lease", func(s *started) { s.coord.leases <- leaseAnswer{err: refused} }},
		{"at a heartbeat", func(s *started) { s.coord.set(nil, refused) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, 2, time.Hour, newFakeLauncher())
			s.coord.give(t, "r1")
			r1 := s.launcher.next(t)
			tc.refuse(s)
			err := s.wait(t)
			if !errors.Is(err, runproto.ErrAgentRefused) || !strings.Contains(err.Error(), "revoked") || !strings.Contains(err.Error(), `"build-1"`) {
				t.Errorf("Run = %v; want the refusal, saying the token was revoked", err)
			}
			if !r1.wasStopped() {
				t.Error("the run of a refused agent was not stopped")
			}
		})
	}
}

func TestTransientErrors(t *testing.T) {
	s := start(t, 2, time.Minute, newFakeLauncher())
	s.coord.give(t, "r1")
	r1 := s.launcher.next(t)
	// The server goes away: leases and heartbeats fail.
	down := errors.New("connection refused")
	s.coord.set(nil, down)
	for range 3 {
		select {
		case s.coord.leases <- leaseAnswer{err: down}:
		case <-time.After(5 * time.Second):
			t.Fatal("the agent stopped asking for runs")
		}
	}
	s.coord.set(nil, nil)
	s.coord.give(t, "r2")
	s.launcher.next(t).finish()

	s.coord.mu.Lock()
	times := s.coord.leaseTimes[1:5] // the three failed requests and the next
	s.coord.mu.Unlock()
	for i, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		if got := times[i+1].Sub(times[i]); got < want || got > want+time.Second {
			t.Errorf("pause after failure %d = %s, want %s", i+1, got, want)
		}
	}
	if r1.wasStopped() || !s.running(t) {
		t.Error("the server's absence disturbed a run")
	}
	r1.finish()
}

// A launcher that cannot start runners pauses between leases, so that it
// does not take the whole queue.
func TestALauncherThatFailsPauses(t *testing.T) {
	l := newFakeLauncher()
	l.err = errors.New("no space left on device")
	s := start(t, 2, time.Minute, l)
	s.coord.give(t, "r1")
	s.coord.give(t, "r2")
	first := time.Now()
	s.coord.give(t, "r3")
	if d := time.Since(first); d < 300*time.Millisecond {
		t.Errorf("the third lease came %s after the second; want pauses after failed starts", d)
	}
}

// workDir is a work dir for the test's sandboxes; as root not under /tmp,
// which the sandbox refuses.
func workDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/var/lib", "jetway-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestSweepsTheWorkDirAtStart(t *testing.T) {
	work := workDir(t)
	// A sandbox whose runner died before it locked it.
	left := filepath.Join(work, "run-r0-123")
	if err := os.MkdirAll(filepath.Join(left, "workspace"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	coord := newFakeCoordinator()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Coordinator: coord, Info: runproto.AgentInfo{Name: "a", Concurrency: 1},
			Launcher: newFakeLauncher(), ServerURL: func() string { return "" }, Sandbox: &sandbox.Config{WorkDir: work}})
	}()
	eventually(t, "a lease request", func() bool { return coord.leaseCalls() > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead run's sandbox is still there (%v)", err)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	valid := Options{Coordinator: newFakeCoordinator(), Info: runproto.AgentInfo{Name: "a", Concurrency: 1},
		Launcher: newFakeLauncher(), ServerURL: func() string { return "" }}
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"no coordinator", func(o *Options) { o.Coordinator = nil }, "no coordinator"},
		{"no launcher", func(o *Options) { o.Launcher = nil }, "no launcher"},
		{"no server URL", func(o *Options) { o.ServerURL = nil }, "no server URL"},
		{"no name", func(o *Options) { o.Info.Name = "" }, "no name"},
		{"concurrency 0", func(o *Options) { o.Info.Concurrency = 0 }, "concurrency 0; want at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.modify(&o)
			err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLocalLauncherReturnsNoTypedNil(t *testing.T) {
	// A log dir that cannot be made: Start fails.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := LocalLauncher(&executor.Local{Binary: "/bin/true", LogDir: filepath.Join(file, "logs")}).Start(context.Background(), executor.Launch{RunID: "r1"})
	if err == nil || h != nil {
		t.Errorf("Start = %v, %v; want a nil Handle and an error", h, err)
	}
}
