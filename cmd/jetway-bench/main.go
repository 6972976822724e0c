// Command jetway-bench measures what the warm remote Docker host buys,
// against the peers, in one run on the test bed: cache reuse, a warm
// end-to-end deploy, Docker API latency, incremental upload, masking,
// server throughput, the runner agents' dispatch latency and scale-out,
// and BuildKit's incremental context over a slow link and cache mounts
// against the classic builder. It writes BENCHMARKS.md's generated section and the raw
// figures as JSON; with --only it keeps the other scenarios' figures of the
// last bench.json. It asserts nothing about time: a scenario below its
// target is reported as such.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	reps := flag.Int("reps", 5, "repetitions of every measurement")
	only := flag.String("only", "", "comma-separated scenario numbers to run (default all)")
	out := flag.String("out", "bench-results", "directory for bench.json")
	md := flag.String("markdown", "BENCHMARKS.md", "file whose generated section is replaced")
	depRounds := flag.Int("dep-rounds", 120, "rounds of the rails-like dependency layer (4 MB gzip -9 each)")
	runs := flag.Int("server-runs", 200, "runs submitted at once in scenario 6")
	dispatchRuns := flag.Int("dispatch-runs", 100, "runs per agent in scenario 7 (p50 and p99 over them)")
	tracedRuns := flag.Int("traced-runs", 20, "runs of scenario 7's breakdown, through a recording proxy")
	scaleRuns := flag.Int("scale-runs", 200, "runs submitted at once in scenario 8")
	scaleReps := flag.Int("scale-reps", 3, "repetitions of each agent count in scenario 8")
	scaleAgents := flag.String("scale-agents", "1,2,4", "agent counts of scenario 8, each agent of concurrency 4")
	replicaRuns := flag.Int("replica-runs", 1000, "trivial runs queued at once in scenario 11 (SQLite server vs two PostgreSQL replicas)")
	replicaReps := flag.Int("replica-reps", 1, "batches of scenario 11 for each setup")
	costRuns := flag.Int("cost-runs", 30, "trivial runs of scenario 16, one at a time (CPU per run)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	agents, err := parseCounts(*scaleAgents)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jetway-bench: --scale-agents:", err)
		os.Exit(2)
	}
	cfg := config{reps: *reps, only: *only, out: *out, markdown: *md, depRounds: *depRounds, serverRuns: *runs,
		dispatchRuns: *dispatchRuns, tracedRuns: *tracedRuns, scaleRuns: *scaleRuns, scaleReps: *scaleReps, scaleAgents: agents,
		replicaRuns: *replicaRuns, replicaReps: *replicaReps, costRuns: *costRuns}
	if err := run(ctx, log, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "jetway-bench:", err)
		os.Exit(1)
	}
}

type config struct {
	reps         int
	only         string
	out          string
	markdown     string
	depRounds    int
	serverRuns   int
	dispatchRuns int
	tracedRuns   int
	scaleRuns    int
	scaleReps    int
	scaleAgents  []int
	replicaRuns  int
	replicaReps  int
	costRuns     int
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want counts of at least 1, e.g. 1,2,4", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (c config) wants(n int) bool {
	if c.only == "" {
		return true
	}
	return slices.Contains(strings.Split(c.only, ","), fmt.Sprint(n))
}

func run(ctx context.Context, log *slog.Logger, cfg config) error {
	env, err := setup(ctx, log)
	if err != nil {
		return err
	}
	defer env.close()
	report := Report{Started: time.Now().UTC(), Machine: machine(), Reps: cfg.reps}
	scenarios := []struct {
		n  int
		fn func(context.Context, *benchEnv, config) (Scenario, error)
	}{
		{1, scenarioCache},
		{2, scenarioWarmDeploy},
		{3, scenarioLatency},
		{4, scenarioUpload},
		{5, scenarioMasking},
		{6, scenarioServer},
		{7, scenarioDispatch},
		{8, scenarioScaleOut},
		{9, scenarioWAN},
		{10, scenarioDeps},
		{11, scenarioReplicas(cfg.replicaRuns, cfg.replicaReps)},
		{12, scenarioIngest},
		{13, scenarioGuard},
		{14, scenarioPoolAffinity},
		{15, scenarioPoolSpill},
		{16, scenarioCost},
	}
	for _, s := range scenarios {
		if !cfg.wants(s.n) {
			continue
		}
		log.Info("scenario", "n", s.n)
		start := time.Now()
		sc, err := s.fn(ctx, env, cfg)
		if err != nil {
			return fmt.Errorf("scenario %d: %w", s.n, err)
		}
		sc.N, sc.Seconds, sc.Started, sc.Reps = s.n, time.Since(start).Seconds(), report.Started, cfg.reps
		report.Scenarios = append(report.Scenarios, sc)
		fmt.Fprint(os.Stdout, sc.Markdown())
	}
	report.Finished = time.Now().UTC()
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	if cfg.only != "" {
		// The scenarios not run keep their figures.
		if data, err := os.ReadFile(filepath.Join(cfg.out, "bench.json")); err == nil {
			var old Report
			if err := json.Unmarshal(data, &old); err != nil {
				return fmt.Errorf("reading the last report to keep its other scenarios: %w", err)
			}
			report.merge(old)
		}
	}
	raw, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.out, "bench.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	return report.WriteMarkdown(cfg.markdown)
}
