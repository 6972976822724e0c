package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// costProject is a trivial run with everything a deploy brings but the
// image: the remote Docker host over ssh, its key and known hosts and the
// registry password from the parameter store, a registry login, and one
// `true` phase.
func costProject(name, registry string) string {
	return fmt.Sprintf(`project: %s
env:
  vars:
    DOCKER_HOST: SSM:/bench/DOCKER_HOST_SSH
    JETS_SSH_KEY: SSM:/bench/JETS_SSH_KEY
    JETS_SSH_KNOWN: SSM:/bench/JETS_SSH_KNOWN
    DOCKER_USER: deploybot
    DOCKER_PASS: SSM:/bench/DOCKER_PASS
    DOCKER_REGISTRY: %s
phases:
  build: ["true"]
`, name, registry)
}

// scenarioCost: the CPU one trivial run costs the server's process tree
// (server, its agent's runners, their sandbox inits and every tool they
// start), against the CPU of one `docker version` on a local socket,
// measured in the same run; the runs go one at a time, so that each
// sample is one run's whole cost.
func scenarioCost(ctx context.Context, e *benchEnv, cfg config) (Scenario, error) {
	sc := Scenario{Title: fmt.Sprintf("CPU per trivial run (one `true` phase, the remote Docker host over ssh, its secrets, a registry login, no image) vs one `docker version` on a local socket, %d runs", cfg.costRuns)}
	s, err := e.startServer(ctx, "cost", "127.0.0.1", true, "--concurrency", "1")
	if err != nil {
		return sc, err
	}
	defer s.stop()
	key, err := os.ReadFile(e.bed.ClientKey)
	if err != nil {
		return sc, err
	}
	known, err := os.ReadFile(e.bed.KnownHosts)
	if err != nil {
		return sc, err
	}
	// As scenario 1's: the key, known hosts and password SecureStrings
	// (masked in the log), the Docker host's address a String.
	for name, v := range map[string]string{"/bench/JETS_SSH_KEY": string(key), "/bench/JETS_SSH_KNOWN": string(known),
		"/bench/DOCKER_PASS": e.bed.RegistryPass, "/bench/DOCKER_HOST_SSH": e.bed.DockerHostSSH()} {
		typ := "SecureString"
		if name == "/bench/DOCKER_HOST_SSH" {
			typ = "String"
		}
		if err := s.client.Do(ctx, http.MethodPost, "/v1/params", nil, api.PutParamRequest{Name: name, Type: typ, Value: v, Overwrite: true}, nil); err != nil {
			return sc, err
		}
	}
	bundle, err := s.emptyBundle(ctx)
	if err != nil {
		return sc, err
	}
	project := func(i int) string {
		return costProject(fmt.Sprintf("cost-%d", i%4), e.bed.Registry)
	}
	// A warm-up run: the server's first run pays for its caches.
	if _, err := costRun(ctx, s, project(0), bundle); err != nil {
		return sc, err
	}
	e.log.Info("per-run cost: server pid for profiling", "pid", s.cmd.Process.Pid)
	perRun := Measure{Name: "CPU per trivial run: server + runner + sandbox + tools (process tree)", Unit: "ms"}
	server := Measure{Name: "  the server itself", Unit: "ms"}
	tree := Measure{Name: "  the runner and all it starts", Unit: "ms"}
	wall := Measure{Name: "  wall time, submit → run ended", Unit: "ms"}
	ref := Measure{Name: "one `docker version` on a local socket (reference, the CLI's own CPU)", Unit: "ms"}
	refWall := Measure{Name: "  its wall time", Unit: "ms"}
	load := Measure{Name: "load average (1 min) at each sample", Unit: ""}
	const batch = 5 // runs (and docker versions) per sample: CPU is counted in 10 ms ticks
	for i := 0; i < cfg.costRuns; i += batch {
		selfBefore, childBefore := procCPU(s.cmd.Process.Pid)
		start := time.Now()
		for j := range batch {
			if _, err := costRun(ctx, s, project(i+j), bundle); err != nil {
				return sc, err
			}
		}
		elapsed := time.Since(start)
		selfAfter, childAfter := procCPU(s.cmd.Process.Pid)
		perRun.Samples = append(perRun.Samples, 1000*(selfAfter+childAfter-selfBefore-childBefore)/batch)
		server.Samples = append(server.Samples, 1000*(selfAfter-selfBefore)/batch)
		tree.Samples = append(tree.Samples, 1000*(childAfter-childBefore)/batch)
		wall.Samples = append(wall.Samples, ms(elapsed)/batch)
		var cpu, w time.Duration
		for range batch {
			c, d, err := dockerVersionCPU(ctx, e.bed.LocalSocket)
			if err != nil {
				return sc, err
			}
			cpu, w = cpu+c, w+d
		}
		ref.Samples = append(ref.Samples, ms(cpu)/batch)
		refWall.Samples = append(refWall.Samples, ms(w)/batch)
		load.Samples = append(load.Samples, loadAverage())
	}
	sc.Measures = []Measure{perRun, server, tree, wall, ref, refWall, load}
	ratio := perRun.Median() / ref.Median()
	sc.Ratio = &Ratio{Name: "CPU per trivial run / CPU of one docker version", Value: ratio, Target: "≤ 1", Met: ratio <= 1}
	sc.Notes = append(sc.Notes, fmt.Sprintf("A `jetway server --concurrency 1` of its own (its own agent, work dir and run UIDs) runs the runs one after another; each sample is %d runs (and then %d `docker version`s), the server's CPU time and that of its waited-for children (runner-exec and everything under it: the sandbox init, slirp4netns, nft, nsenter, the phase) from /proc/PID/stat, in 10 ms ticks. dockerd's and sshd's side of the Docker host check and login are not in it (they are the remote host's). `docker version`'s CPU is the CLI process's own (user + system), talking to the bed's local daemon.", batch, batch))
	return sc, nil
}

// costRun submits a run and waits for its end.
func costRun(ctx context.Context, s *jetwayServer, project, bundle string) (api.Run, error) {
	run, err := s.submit(ctx, project, bundle)
	if err != nil {
		return run, err
	}
	end, err := s.client.Follow(ctx, run.ID, io.Discard)
	if err != nil {
		return run, err
	}
	if end.Status != api.StatusSucceeded {
		return run, fmt.Errorf("run %s: %s (%s)", run.ID, end.Status, end.Reason)
	}
	return run, nil
}

// dockerVersionCPU runs `docker version` against a local socket and
// returns its CPU time (user + system) and wall time.
func dockerVersionCPU(ctx context.Context, socket string) (cpu, wall time.Duration, err error) {
	cmd := exec.CommandContext(ctx, "docker", "--host", "unix://"+socket, "version")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "DOCKER_CONFIG=" + os.TempDir() + "/jetway-bench-docker-config"}
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("docker version: %v: %s", err, out)
	}
	wall = time.Since(start)
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), wall, nil
}

// loadAverage is the machine's load average over the last minute.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(data), &l)
	return l
}
