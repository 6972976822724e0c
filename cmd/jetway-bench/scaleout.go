package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

const (
	scaleConcurrency = 4           // each agent's
	scaleProjects    = 32          // one run per project at a time: more projects than slots
	scalePhase       = time.Second // each run's phase sleeps this long
)

func sleepProject(i int, dockerHost string) string {
	return fmt.Sprintf("project: scale-%02d\nenv:\n  vars:\n    DOCKER_HOST: %s\nphases:\n  build: [\"sleep %d\"]\n", i, dockerHost, int(scalePhase.Seconds()))
}

// scaleResult is one batch of runs over a set of agents.
type scaleResult struct {
	rate   float64 // runs per second, first submit → last run stored as ended
	slot   float64 // slot time per run: slots × elapsed ÷ runs (s)
	held   float64 // mean time a run holds its lease: started_at → finished_at (s)
	runner float64 // mean time in the runner's run outside its phase: sandbox, bootstrap, clean-up (s)
	phase  float64 // mean phase duration (s)
	busy   float64 // the machine's CPU busy during the batch (%)
	// CPU time per run (ms): the whole machine's, and that of the runners
	// (with all they started), the agents themselves, the server, the
	// Docker daemon, this bench, the kernel's threads, and the rest (other
	// processes, interrupts).
	cpu, cpuRunners, cpuAgents, cpuServer, cpuDockerd, cpuBench, cpuKernel, cpuRest float64

	ids []string // the runs, in the order submitted
}

// cpuUse is the CPU time of the processes a batch involves.
type cpuUse struct{ runners, agents, server, dockerd, bench, kernel float64 }

func (e *benchEnv) cpuUse(s *jetwayServer, agents []*agentProc) cpuUse {
	var u cpuUse
	for _, a := range agents {
		self, children := procCPU(a.cmd.Process.Pid)
		u.agents += self
		u.runners += children
	}
	self, children := procCPU(s.cmd.Process.Pid)
	u.server = self + children
	for _, p := range e.bed.Procs {
		if p.Name == "dockerd-local" {
			self, children := procCPU(p.PID)
			u.dockerd = self + children
		}
	}
	u.bench, _ = procCPU(os.Getpid()) // its children: agents and servers of other batches
	u.kernel = kernelThreadsCPU()
	return u
}

// kernelThreadsCPU is the CPU time of the kernel's threads (kthreadd's
// children) that live now: workers that tear down namespaces and cgroups,
// softirq threads.
func kernelThreadsCPU() float64 {
	entries, _ := os.ReadDir("/proc")
	var sum float64
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && (f[1] == "2" || pid == 2) {
			self, _ := procCPU(pid)
			sum += self
		}
	}
	return sum
}

// scaleOnce submits runs at once over scaleProjects projects and waits for
// all of them to end.
func (e *benchEnv) scaleOnce(ctx context.Context, s *jetwayServer, agents []*agentProc, dockerHost, bundle string, runs, slots int) (scaleResult, error) {
	var res scaleResult
	cpu, use := readCPU(), e.cpuUse(s, agents)
	start := time.Now()
	ids := make([]string, 0, runs)
	for i := range runs {
		run, err := s.submit(ctx, sleepProject(i%scaleProjects, dockerHost), bundle)
		if err != nil {
			return res, err
		}
		ids = append(ids, run.ID)
	}
	for {
		var active []api.Run
		q := url.Values{"status": {api.StatusQueued + "," + api.StatusProvisioning + "," + api.StatusRunning}, "limit": {"1000"}}
		if err := s.client.Do(ctx, http.MethodGet, "/v1/runs", q, nil, &active); err != nil {
			return res, err
		}
		if len(active) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	// The agents reap their runners just after the runs end.
	time.Sleep(500 * time.Millisecond)
	total, busy := cpu.busySince()
	after := e.cpuUse(s, agents)
	n := float64(runs)
	perRun := func(x float64) float64 { return 1000 * x / n }
	res.busy = busy
	res.cpu = perRun(total)
	res.cpuRunners = perRun(after.runners - use.runners)
	res.cpuAgents = perRun(after.agents - use.agents)
	res.cpuServer = perRun(after.server - use.server)
	res.cpuDockerd = perRun(after.dockerd - use.dockerd)
	res.cpuBench = perRun(after.bench - use.bench)
	res.cpuKernel = perRun(after.kernel - use.kernel)
	res.cpuRest = res.cpu - res.cpuRunners - res.cpuAgents - res.cpuServer - res.cpuDockerd - res.cpuBench - res.cpuKernel
	var end time.Time
	for _, id := range ids {
		run, err := s.run(ctx, id)
		if err != nil {
			return res, err
		}
		if run.Status != api.StatusSucceeded || run.Summary == nil || run.StartedAt == nil || run.FinishedAt == nil {
			return res, fmt.Errorf("run %s: %s (%s)", id, run.Status, run.Reason)
		}
		if run.FinishedAt.After(end) {
			end = *run.FinishedAt
		}
		var phases time.Duration
		for _, p := range run.Summary.Phases {
			phases += p.Duration
		}
		res.held += run.FinishedAt.Sub(*run.StartedAt).Seconds()
		res.runner += (run.Summary.Duration - phases).Seconds()
		res.phase += phases.Seconds()
	}
	elapsed := end.Sub(start).Seconds()
	res.rate = n / elapsed
	res.slot = float64(slots) * elapsed / n
	res.held /= n
	res.runner /= n
	res.phase /= n
	res.ids = ids
	return res, nil
}

// startAgents starts k agents of scaleConcurrency named prefix-1…k that
// talk to serverURL ("" for the server's).
func (e *benchEnv) startAgents(ctx context.Context, s *jetwayServer, k int, prefix, serverURL string) ([]*agentProc, error) {
	agents := make([]*agentProc, 0, k)
	for j := range k {
		a, err := e.startAgent(ctx, s, agentSpec{name: fmt.Sprintf("%s-%d", prefix, j+1), concurrency: scaleConcurrency, serverURL: serverURL})
		if err != nil {
			stopAgents(agents)
			return nil, err
		}
		agents = append(agents, a)
	}
	return agents, nil
}

// stopAgents drains the agents at once.
func stopAgents(agents []*agentProc) {
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(a.stop)
	}
	wg.Wait()
}

// traceScaleOut runs one more batch on k agents whose requests pass a
// recording proxy, and returns where each run's time went under that load.
func (e *benchEnv) traceScaleOut(ctx context.Context, s *jetwayServer, k int, dockerHost, bundle string, runs int) ([]Measure, error) {
	t, err := startTracer("127.0.0.1", s.url)
	if err != nil {
		return nil, err
	}
	defer t.close()
	agents, err := e.startAgents(ctx, s, k, "scale-traced", t.url)
	if err != nil {
		return nil, err
	}
	r, err := e.scaleOnce(ctx, s, agents, dockerHost, bundle, runs, k*scaleConcurrency)
	stopAgents(agents)
	if err != nil {
		return nil, err
	}
	names := []string{
		fmt.Sprintf("traced batch, %d agent(s) through a recording proxy, per run: lease → the agent has it", k),
		"  → its runner asks for the spec (runner process start)",
		"  → spec and bundle fetched",
		"  → sandbox made (the first event)",
		"  → Docker host checked",
		"  → phase started",
		"  phase (`sleep 1`)",
		"  phase finished → summary (clean-up)",
	}
	measures := make([]Measure, len(names))
	for i, name := range names {
		measures[i] = Measure{Name: name, Unit: "ms", P99: true}
	}
	for _, id := range r.ids {
		run, err := s.run(ctx, id)
		if err != nil {
			return nil, err
		}
		tl := t.timeline(id)
		first, _, ok1 := tl.first(func(api.Event) bool { return true })
		host, _, ok2 := tl.first(func(e api.Event) bool { return e.Type == "bootstrap" && e.Status == "docker host" })
		started, _, ok3 := tl.first(func(e api.Event) bool { return e.Type == "phase_started" })
		finished, _, ok4 := tl.first(func(e api.Event) bool { return e.Type == "phase_finished" })
		summary, _, ok5 := tl.first(func(e api.Event) bool { return e.Type == "summary" })
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || tl.leased.IsZero() || tl.spec.IsZero() || tl.bundle.IsZero() || run.StartedAt == nil {
			return nil, fmt.Errorf("run %s: the tracer missed part of it", id)
		}
		for i, v := range []time.Duration{
			tl.leased.Sub(*run.StartedAt),
			tl.spec.Sub(tl.leased),
			tl.bundle.Sub(tl.spec),
			first.Time.Sub(tl.bundle),
			host.Time.Sub(first.Time),
			started.Time.Sub(host.Time),
			finished.Duration,
			summary.Time.Sub(finished.Time),
		} {
			measures[i].Samples = append(measures[i].Samples, ms(v))
		}
	}
	return measures, nil
}

// scenarioScaleOut: many runs whose phase sleeps, over 1, 2 and 4 agents of
// concurrency 4 on this machine, against the ideal of slots ÷ phase.
func scenarioScaleOut(ctx context.Context, e *benchEnv, cfg config) (Scenario, error) {
	sc := Scenario{Title: fmt.Sprintf("Scale-out: %d runs (one `sleep %d` phase) submitted at once over %d projects, to agents of concurrency %d, %d repetitions",
		cfg.scaleRuns, int(scalePhase.Seconds()), scaleProjects, scaleConcurrency, cfg.scaleReps)}
	s, err := e.startServer(ctx, "scale", "127.0.0.1", true, "--concurrency", "0", "--allow-local-docker")
	if err != nil {
		return sc, err
	}
	defer s.stop()
	bundle, err := s.emptyBundle(ctx)
	if err != nil {
		return sc, err
	}
	dockerHost := "unix://" + e.bed.LocalSocket
	type series struct {
		rate, efficiency, overhead, outside, runner, phase, idle, busy                  Measure
		cpu, cpuRunners, cpuAgents, cpuServer, cpuDockerd, cpuBench, cpuKernel, cpuRest Measure
	}
	all := make([]*series, len(cfg.scaleAgents))
	for i, k := range cfg.scaleAgents {
		slots := k * scaleConcurrency
		label := fmt.Sprintf("%d agent(s) × %d = %d slots", k, scaleConcurrency, slots)
		all[i] = &series{
			rate:       Measure{Name: label + ": runs per second", Unit: "runs/s"},
			efficiency: Measure{Name: fmt.Sprintf("  against the ideal (%d runs/s)", slots), Unit: "%"},
			overhead:   Measure{Name: "  per-run overhead: slot time per run − 1 s", Unit: "s"},
			outside:    Measure{Name: "    leased, outside the runner's run (runner start, spec, bundle, summary upload)", Unit: "s"},
			runner:     Measure{Name: "    in the runner's run, outside the phase (sandbox, Docker host check, clean-up)", Unit: "s"},
			phase:      Measure{Name: "    the phase beyond 1 s (entering the sandbox, starting sleep)", Unit: "s"},
			idle:       Measure{Name: "    slot free, no run leased (runner exit, next lease, start and end of the batch)", Unit: "s"},
			busy:       Measure{Name: fmt.Sprintf("  machine CPU busy (%d cores)", runtime.NumCPU()), Unit: "%"},
			cpu:        Measure{Name: "  CPU time per run, whole machine", Unit: "ms"},
			cpuRunners: Measure{Name: "    runners and all they start (sandbox init, slirp4netns, nft, nsenter, the phase)", Unit: "ms"},
			cpuAgents:  Measure{Name: "    the agents themselves", Unit: "ms"},
			cpuServer:  Measure{Name: "    the server", Unit: "ms"},
			cpuDockerd: Measure{Name: "    dockerd (the runners' Docker host checks)", Unit: "ms"},
			cpuBench:   Measure{Name: "    this bench (submits, polls)", Unit: "ms"},
			cpuKernel:  Measure{Name: "    the kernel's threads (namespace and cgroup teardown, softirqs)", Unit: "ms"},
			cpuRest:    Measure{Name: "    the rest: other processes on the machine, interrupts", Unit: "ms"},
		}
	}
	nameRound := 0
	// Agent counts take turns within each repetition.
	for rep := range cfg.scaleReps {
		for i, k := range cfg.scaleAgents {
			nameRound++
			agents, err := e.startAgents(ctx, s, k, fmt.Sprintf("scale-%d", nameRound), "")
			if err != nil {
				return sc, err
			}
			e.log.Info("scale-out", "agents", k, "rep", rep+1)
			r, err := e.scaleOnce(ctx, s, agents, dockerHost, bundle, cfg.scaleRuns, k*scaleConcurrency)
			stopAgents(agents)
			if err != nil {
				return sc, err
			}
			se := all[i]
			se.rate.Samples = append(se.rate.Samples, r.rate)
			se.efficiency.Samples = append(se.efficiency.Samples, 100*r.rate/float64(k*scaleConcurrency)*scalePhase.Seconds())
			se.overhead.Samples = append(se.overhead.Samples, r.slot-scalePhase.Seconds())
			se.outside.Samples = append(se.outside.Samples, r.held-r.runner-r.phase)
			se.runner.Samples = append(se.runner.Samples, r.runner)
			se.phase.Samples = append(se.phase.Samples, r.phase-scalePhase.Seconds())
			se.idle.Samples = append(se.idle.Samples, r.slot-r.held)
			se.busy.Samples = append(se.busy.Samples, r.busy)
			for m, v := range map[*Measure]float64{&se.cpu: r.cpu, &se.cpuRunners: r.cpuRunners, &se.cpuAgents: r.cpuAgents,
				&se.cpuServer: r.cpuServer, &se.cpuDockerd: r.cpuDockerd, &se.cpuBench: r.cpuBench, &se.cpuKernel: r.cpuKernel, &se.cpuRest: r.cpuRest} {
				m.Samples = append(m.Samples, v)
			}
		}
	}
	for _, se := range all {
		sc.Measures = append(sc.Measures, se.rate, se.efficiency, se.overhead, se.outside, se.runner, se.phase, se.idle,
			se.busy, se.cpu, se.cpuRunners, se.cpuAgents, se.cpuServer, se.cpuDockerd, se.cpuBench, se.cpuKernel, se.cpuRest)
	}
	k := cfg.scaleAgents[len(cfg.scaleAgents)-1]
	if cfg.tracedRuns > 0 {
		e.log.Info("scale-out, traced", "agents", k)
		traced, err := e.traceScaleOut(ctx, s, k, dockerHost, bundle, cfg.scaleRuns)
		if err != nil {
			return sc, err
		}
		sc.Measures = append(sc.Measures, traced...)
		sc.Notes = append(sc.Notes, "The traced batch is one more batch whose agents talk to the server through the recording proxy of scenario 7; its runs are not in the figures above. It shows where a run's time goes when the machine is loaded, against the same steps on an idle machine in scenario 7.")
	}
	first, last := all[0], all[len(all)-1]
	sc.Ratio = &Ratio{Name: fmt.Sprintf("runs per second, %d agents / %d agent(s) (ideal %d)", cfg.scaleAgents[len(all)-1], cfg.scaleAgents[0], cfg.scaleAgents[len(all)-1]/cfg.scaleAgents[0]),
		Value: last.rate.Median() / first.rate.Median()}
	verdict := "met"
	if last.efficiency.Median() < 85 {
		verdict = "not met"
	}
	sc.Notes = append(sc.Notes, fmt.Sprintf("Target (issue 28): %d agents ≥ 85 %% of the ideal on this %d-core machine: %s %% (**%s**).", k, runtime.NumCPU(), format(last.efficiency.Median()), verdict))
	sc.Notes = append(sc.Notes, fmt.Sprintf("Every agent is a `jetway agent --concurrency %d` on this machine (its own work dir and run UIDs), talking to a `jetway server --concurrency 0` over loopback; runs use the bed's local Docker daemon (`--allow-local-docker`). A run holds its slot from its lease to the end of its runner; slot time per run is slots × (first submit → last run ended) ÷ runs. The four rows under the overhead add up to it. Projects: %d, so that the one-run-per-project rule leaves every slot a run.",
		scaleConcurrency, scaleProjects))
	return sc, nil
}
