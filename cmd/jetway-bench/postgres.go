package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/pgtest"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/sqldb"
	"github.com/jetway-dev/jetway/internal/store"
)

// Scenarios 11 and 12 (issue 14): the embedded SQLite store against
// PostgreSQL, the queue through whole servers and agents, log ingestion
// at the store.

const (
	replicaAgents   = 4  // agents of scaleConcurrency, split between the replicas
	replicaProjects = 50 // one run per project at a time: more projects than slots
)

// startPostgres starts a throw-away cluster (Debian's postgresql, as the
// tests do) and returns the URL of a new database in it.
func startPostgres(ctx context.Context, dbname string) (*pgtest.Cluster, string, error) {
	c, err := pgtest.Start(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("starting PostgreSQL (scripts/setup.sh installs it): %w", err)
	}
	admin, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		c.Stop()
		return nil, "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+dbname); err != nil {
		c.Stop()
		return nil, "", fmt.Errorf("creating the database %s: %w", dbname, err)
	}
	return c, c.URL(dbname), nil
}

// trivialProject is a run whose only phase does nothing.
func trivialProject(i int, dockerHost string) string {
	return fmt.Sprintf("project: replica-%02d\nenv:\n  vars:\n    DOCKER_HOST: %s\nphases:\n  build: [\"true\"]\n", i%replicaProjects, dockerHost)
}

// replicaSetup is one way to run the server: its replicas (one for
// SQLite) and the agents, split between them.
type replicaSetup struct {
	name      string
	servers   []*jetwayServer
	bundles   []string // an empty bundle on each server (PostgreSQL: shared)
	rate      Measure
	toFirst   Measure
	toLease   Measure
	fromLease Measure
	busy      Measure
	cpu       Measure
}

// startReplica starts one more server on the PostgreSQL database at url;
// a replica after the first gets copies of the first one's token and
// master key, as an operator would give it.
func (e *benchEnv) startReplica(ctx context.Context, name, url string, first *jetwayServer) (*jetwayServer, error) {
	if first != nil {
		from := filepath.Join(first.home, ".local", "share", "jetway")
		to := filepath.Join(e.work, name+"-home", ".local", "share", "jetway")
		if err := os.MkdirAll(to, 0o700); err != nil {
			return nil, err
		}
		for _, f := range []string{"token", "master.key"} {
			data, err := os.ReadFile(filepath.Join(from, f))
			if err != nil {
				return nil, fmt.Errorf("copying the first replica's %s: %w", f, err)
			}
			if err := os.WriteFile(filepath.Join(to, f), data, 0o600); err != nil {
				return nil, err
			}
		}
	}
	return e.startServer(ctx, name, "127.0.0.1", true, "--concurrency", "0", "--allow-local-docker", "--database", url)
}

// replicaSample is one run of a batch as the client saw it.
type replicaSample struct {
	submitted, first time.Time
	err              error
}

// replicaBatch submits runs at once, alternately to each server of the
// setup, follows each run's log on the server it was sent to, and waits for
// all of them to end.
func (e *benchEnv) replicaBatch(ctx context.Context, st *replicaSetup, dockerHost string, runs int) error {
	cpu := readCPU()
	samples := make([]replicaSample, runs)
	ids := make([]string, runs)
	var wg sync.WaitGroup
	for i := range runs {
		s := st.servers[i%len(st.servers)]
		samples[i].submitted = time.Now()
		run, err := s.submit(ctx, trivialProject(i, dockerHost), st.bundles[i%len(st.bundles)])
		if err != nil {
			wg.Wait()
			return err
		}
		ids[i] = run.ID
		wg.Go(func() {
			fw := &firstWrite{}
			end, err := s.client.Follow(ctx, run.ID, fw)
			switch {
			case err != nil:
				samples[i].err = fmt.Errorf("following run %s on %s: %w", run.ID, s.name, err)
			case end.Status != api.StatusSucceeded:
				samples[i].err = fmt.Errorf("run %s: %s (%s)", run.ID, end.Status, end.Reason)
			case fw.at.IsZero():
				samples[i].err = fmt.Errorf("run %s: its log stream had no event", run.ID)
			}
			samples[i].first = fw.at
		})
	}
	wg.Wait()
	total, busy := cpu.busySince()
	var end time.Time
	for i, id := range ids {
		if samples[i].err != nil {
			return samples[i].err
		}
		// Any replica answers for every run.
		run, err := st.servers[(i+1)%len(st.servers)].run(ctx, id)
		if err != nil {
			return err
		}
		if run.StartedAt == nil || run.FinishedAt == nil {
			return fmt.Errorf("run %s: %s without a lease or an end", id, run.Status)
		}
		if run.FinishedAt.After(end) {
			end = *run.FinishedAt
		}
		sm := samples[i]
		st.toFirst.Samples = append(st.toFirst.Samples, ms(sm.first.Sub(sm.submitted)))
		st.toLease.Samples = append(st.toLease.Samples, ms(run.StartedAt.Sub(sm.submitted)))
		st.fromLease.Samples = append(st.fromLease.Samples, ms(sm.first.Sub(*run.StartedAt)))
	}
	st.rate.Samples = append(st.rate.Samples, float64(runs)/end.Sub(samples[0].submitted).Seconds())
	st.busy.Samples = append(st.busy.Samples, busy)
	st.cpu.Samples = append(st.cpu.Samples, 1000*total/float64(runs))
	return nil
}

// scenarioReplicas (11) returns the scenario: runs trivial runs queued at
// once and drained by replicaAgents agents, a single SQLite server against
// two replicas on one PostgreSQL database, reps batches each (a batch is
// the whole queue, and each of its runs a latency sample).
func scenarioReplicas(runs, reps int) func(context.Context, *benchEnv, config) (Scenario, error) {
	return func(ctx context.Context, e *benchEnv, _ config) (Scenario, error) {
		return replicas(ctx, e, runs, reps)
	}
}

func replicas(ctx context.Context, e *benchEnv, runs, reps int) (Scenario, error) {
	sc := Scenario{Title: fmt.Sprintf("Queue: %d trivial runs (`build: [\"true\"]`) submitted at once over %d projects, drained by %d agents of concurrency %d: one server on SQLite vs two replicas on one PostgreSQL, %d batch(es) each",
		runs, replicaProjects, replicaAgents, scaleConcurrency, max(1, reps))}
	cluster, url, err := startPostgres(ctx, "jetway_bench_replicas")
	if err != nil {
		return sc, err
	}
	defer cluster.Stop()
	lite, err := e.startServer(ctx, "replica-sqlite", "127.0.0.1", true, "--concurrency", "0", "--allow-local-docker")
	if err != nil {
		return sc, err
	}
	defer lite.stop()
	pgA, err := e.startReplica(ctx, "replica-pg-a", url, nil)
	if err != nil {
		return sc, err
	}
	defer pgA.stop()
	pgB, err := e.startReplica(ctx, "replica-pg-b", url, pgA)
	if err != nil {
		return sc, err
	}
	defer pgB.stop()
	setups := []*replicaSetup{
		{name: "SQLite, one server", servers: []*jetwayServer{lite}},
		{name: "PostgreSQL, two replicas", servers: []*jetwayServer{pgA, pgB}},
	}
	for _, st := range setups {
		for _, s := range st.servers {
			b, err := s.emptyBundle(ctx)
			if err != nil {
				return sc, err
			}
			st.bundles = append(st.bundles, b)
		}
		st.rate = Measure{Name: st.name + ": runs per second", Unit: "runs/s"}
		st.toFirst = Measure{Name: "  submit → first log line (the runner's first event, on the server the run was sent to)", Unit: "ms", P99: true}
		st.toLease = Measure{Name: "    submit → leased (waiting in the queue)", Unit: "ms", P99: true}
		st.fromLease = Measure{Name: "    leased → first log line", Unit: "ms", P99: true}
		st.busy = Measure{Name: fmt.Sprintf("  machine CPU busy (%d cores)", runtime.NumCPU()), Unit: "%"}
		st.cpu = Measure{Name: "  CPU time per run, whole machine", Unit: "ms"}
	}
	dockerHost := "unix://" + e.bed.LocalSocket
	round := 0
	// The setups take turns, each first in every other repetition.
	for rep := range max(1, reps) {
		for j := range setups {
			st := setups[(rep+j)%len(setups)]
			round++
			var agents []*agentProc
			for k, s := range st.servers {
				n := replicaAgents / len(st.servers)
				if k < replicaAgents%len(st.servers) {
					n++
				}
				a, err := e.startAgents(ctx, s, n, fmt.Sprintf("replica-%d-%c", round, 'a'+k), "")
				if err != nil {
					stopAgents(agents)
					return sc, err
				}
				agents = append(agents, a...)
			}
			e.log.Info("queue", "setup", st.name, "runs", runs, "rep", rep+1)
			err := e.replicaBatch(ctx, st, dockerHost, runs)
			stopAgents(agents)
			if err != nil {
				return sc, fmt.Errorf("%s: %w", st.name, err)
			}
		}
	}
	for _, st := range setups {
		sc.Measures = append(sc.Measures, st.rate, st.toFirst, st.toLease, st.fromLease, st.busy, st.cpu)
	}
	lt, pg := setups[0], setups[1]
	sc.Ratio = &Ratio{Name: "runs per second, PostgreSQL with two replicas / SQLite", Value: pg.rate.Median() / lt.rate.Median()}
	sc.Notes = append(sc.Notes,
		fmt.Sprintf("p99 submit → first log line, PostgreSQL with two replicas / SQLite: **%s**.",
			format(percentile(pg.toFirst.Samples, 0.99)/percentile(lt.toFirst.Samples, 0.99))),
		fmt.Sprintf("Every agent is a `jetway agent --concurrency %d` on this machine (as in scenario 8), talking to a `jetway server --concurrency 0` over loopback; the PostgreSQL setup has two such servers on one database (`--database`, the second with the first's token and master key), %d agents on each, and the runs are submitted to them in turn; each run's log is followed (server-sent events) on the server it was sent to from its submit on. All %d runs are submitted at once, so submit → first log line is mostly the wait in the queue; leased → first log line is the dispatch alone, under load. Runs per second: first submit → last run ended. PostgreSQL is Debian's, a throw-away cluster on this machine with fsync off (as the tests run it), so both stores skip the disk flush at commit (SQLite: WAL, synchronous=NORMAL); the servers, agents, runners and PostgreSQL share the machine's %d cores.",
			scaleConcurrency, replicaAgents/2, runs, runtime.NumCPU()))
	return sc, nil
}

// Log ingestion (scenario 12).

const (
	ingestRuns     = 20
	ingestDuration = 3 * time.Second
)

// ingestBatches are the lines per batch measured: a quiet phase's batch
// of a runner's 200 ms upload tick, and a full batch (the runner's
// MaxBatchEvents) of a build that floods its log.
var ingestBatches = []int{10, 500}

// ingestStore is what a server does to a store with a runner's batch of
// events (internal/server/runs.go runEvents): look the run up, store the
// events' text once (runproto.StoreEvents), mark the run running, and on
// PostgreSQL tell the other replicas (NOTIFY).
func ingestBatch(ctx context.Context, st *store.Store, id string, batch []api.Event) error {
	run, err := st.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if api.Finished(run.Status) {
		return fmt.Errorf("run %s has ended", id)
	}
	acked, err := runproto.StoreEvents(ctx, st, id, batch)
	if err != nil {
		return err
	}
	if acked != batch[len(batch)-1].Seq {
		return fmt.Errorf("run %s: stored up to event %d, sent up to %d", id, acked, batch[len(batch)-1].Seq)
	}
	if _, err := st.Transition(ctx, id, []string{api.StatusProvisioning}, api.StatusRunning, "", nil); err != nil {
		return err
	}
	if st.Shared() {
		return st.Publish(ctx, "run:"+id)
	}
	return nil
}

// ingestOnce appends batches of size lines to ingestRuns new runs at once,
// one goroutine each, for ingestDuration, and returns the lines stored per
// second.
func ingestOnce(ctx context.Context, st *store.Store, label string, size int) (float64, error) {
	ids := make([]string, ingestRuns)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", label, i)
		run := store.StoredRun{Run: api.Run{ID: ids[i], Project: ids[i], Status: api.StatusQueued, CreatedAt: time.Now()}, ProjectFile: "project: " + ids[i] + "\n"}
		if err := st.CreateRun(ctx, run); err != nil {
			return 0, err
		}
		if _, err := st.Transition(ctx, ids[i], []string{api.StatusQueued}, api.StatusProvisioning, "", nil); err != nil {
			return 0, err
		}
	}
	lines := make([]int64, ingestRuns)
	errs := make([]error, ingestRuns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(ingestDuration)
	for i, id := range ids {
		wg.Go(func() {
			batch := make([]api.Event, size)
			for j := range batch {
				batch[j] = api.Event{Type: "log", Time: start, Phase: "build",
					Message: fmt.Sprintf("#%d %6.3f compiling src/pkg%02d/module_%04d.go (%d of %d files)", j%40+1, float64(j)/100, i, j, j, size)}
			}
			var seq int64
			for time.Now().Before(deadline) {
				for j := range batch {
					seq++
					batch[j].Seq = seq
				}
				if err := ingestBatch(ctx, st, id, batch); err != nil {
					errs[i] = err
					return
				}
			}
			lines[i] = seq
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var total int64
	for i, id := range ids {
		if errs[i] != nil {
			return 0, errs[i]
		}
		// What was counted is what the store holds.
		acked, err := st.EventsAcked(ctx, id)
		if err != nil {
			return 0, err
		}
		if acked != lines[i] {
			return 0, fmt.Errorf("run %s: %d events stored, %d sent", id, acked, lines[i])
		}
		total += lines[i]
		if _, err := st.Transition(ctx, id, []string{api.StatusRunning}, api.StatusSucceeded, "", nil); err != nil {
			return 0, err
		}
	}
	return float64(total) / elapsed, nil
}

// scenarioIngest (12): lines per second stored by ingestRuns runs at once,
// SQLite against PostgreSQL, at the store.
func scenarioIngest(ctx context.Context, e *benchEnv, cfg config) (Scenario, error) {
	sc := Scenario{Title: fmt.Sprintf("Log ingestion: lines per second stored by %d runs at once, each for %s, SQLite vs PostgreSQL", ingestRuns, ingestDuration)}
	dir := filepath.Join(e.work, "ingest-sqlite")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return sc, err
	}
	lite, err := store.Open(ctx, dir)
	if err != nil {
		return sc, err
	}
	defer lite.Close()
	cluster, url, err := startPostgres(ctx, "jetway_bench_ingest")
	if err != nil {
		return sc, err
	}
	defer cluster.Stop()
	db, err := sqldb.OpenPostgres(ctx, url)
	if err != nil {
		return sc, err
	}
	pg, err := store.New(ctx, db)
	if err != nil {
		db.Close()
		return sc, err
	}
	defer pg.Close()
	engines := []struct {
		name string
		st   *store.Store
	}{{"SQLite", lite}, {"PostgreSQL", pg}}
	measures := make([][]Measure, len(ingestBatches)) // [batch size][engine]
	for b, size := range ingestBatches {
		for _, en := range engines {
			measures[b] = append(measures[b], Measure{Name: fmt.Sprintf("%s, batches of %d lines: lines per second", en.name, size), Unit: "lines/s"})
		}
	}
	for rep := range max(1, cfg.reps) {
		for b, size := range ingestBatches {
			// The engines take turns, each first in every other repetition.
			for j := range engines {
				k := (rep + j) % len(engines)
				en := engines[k]
				e.log.Info("log ingestion", "engine", en.name, "batch", size, "rep", rep+1)
				rate, err := ingestOnce(ctx, en.st, fmt.Sprintf("ingest-%d-%d-%s", rep, size, strings.ToLower(en.name)), size)
				if err != nil {
					return sc, fmt.Errorf("%s, batches of %d lines: %w", en.name, size, err)
				}
				measures[b][k].Samples = append(measures[b][k].Samples, rate)
			}
		}
	}
	for _, ms := range measures {
		sc.Measures = append(sc.Measures, ms...)
	}
	sc.Ratio = &Ratio{Name: fmt.Sprintf("lines per second, PostgreSQL / SQLite, batches of %d lines", ingestBatches[0]),
		Value: measures[0][1].Median() / measures[0][0].Median()}
	last := len(ingestBatches) - 1
	sc.Notes = append(sc.Notes,
		fmt.Sprintf("Batches of %d lines, PostgreSQL / SQLite: **%s**.", ingestBatches[last], format(measures[last][1].Median()/measures[last][0].Median())),
		fmt.Sprintf("Measured at the store (internal/store), in this process, without HTTP: %d goroutines, each appending to a run of its own, batch after batch of log events (lines of about 70 bytes) for %s, each batch stored as the server stores a runner's batch (runEvents): the run looked up, runproto.StoreEvents (events acknowledged and their text appended as one log chunk, in one transaction), the run marked running, and on PostgreSQL a NOTIFY to the other replicas. %d lines per batch is about what a quiet phase sends in the runner's 200 ms upload tick, %d a full batch of a build flooding its log. Lines per second: all lines stored ÷ the time until the last goroutine's last batch; the store's count of each run's events is checked against what was sent. SQLite: the server's own jetway.db (WAL, synchronous=NORMAL, one connection); PostgreSQL: Debian's, a throw-away cluster on this machine with fsync off (as the tests run it), the server's pool of 20 connections.",
			ingestRuns, ingestDuration, ingestBatches[0], ingestBatches[last]))
	return sc, nil
}
