package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/dockerguard"
	"github.com/jetway-dev/jetway/internal/dockerhost"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// scenarioGuard: what the Docker guard costs a phase. Both sockets ride
// one SSH connection to the bed's remote host, opened as the runner opens
// it; one is served by the guard, the other by a byte-for-byte proxy (what
// phases had before the guard). The docker CLI runs `docker version` and a
// warm classic build (every step cached) through each, taking turns.
func scenarioGuard(ctx context.Context, e *benchEnv, cfg config) (Scenario, error) {
	sc := Scenario{Title: "Docker guard overhead: a warm build and `docker version` through the guard vs a plain proxy"}
	b := e.bed
	h, err := dockerhost.Open(ctx, dockerhost.Options{Host: b.DockerHostSSH(), Identities: []string{b.ClientKey}, KnownHosts: []string{b.KnownHosts}})
	if err != nil {
		return sc, err
	}
	defer h.Close()
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	listen := func(name string) (net.Listener, string, error) {
		sock := filepath.Join(e.work, name)
		_ = os.Remove(sock)
		l, err := net.Listen("unix", sock)
		return l, sock, err
	}
	pl, proxySock, err := listen("plain-proxy.sock")
	if err != nil {
		return sc, err
	}
	gl, guardSock, err := listen("guard.sock")
	if err != nil {
		return sc, err
	}
	go func() { _ = (&dockerhost.Proxy{Dialer: h}).Serve(serveCtx, pl) }()
	guard := dockerguard.New(dockerguard.Config{Dialer: h, Project: "bench-guard", RunID: "bench-guard", Policy: api.DockerPolicy{}})
	defer guard.Close()
	go func() { _ = guard.Serve(serveCtx, gl) }()

	ctxDir := filepath.Join(e.work, "guard-context")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return sc, err
	}
	dockerfile := fmt.Sprintf("FROM %s\nRUN echo dependencies > /deps\nCOPY app.txt /app.txt\nRUN cat /app.txt /deps > /all\n", testbed.BaseImage)
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return sc, err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "app.txt"), []byte("app\n"), 0o644); err != nil {
		return sc, err
	}
	docker := func(sock string, args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+filepath.Join(e.work, "guard-config"))
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("docker %v: %v: %s", args, err, out)
		}
		return time.Since(start), nil
	}
	build := []string{"build", "-q", "-t", "bench-guard/app:latest", ctxDir}
	for _, sock := range []string{proxySock, guardSock} { // warm the cache
		if _, err := docker(sock, build...); err != nil {
			return sc, err
		}
	}
	paths := []struct{ name, sock string }{{"plain proxy", proxySock}, {"guard", guardSock}}
	version := make([]Measure, 2)
	warm := make([]Measure, 2)
	for i, p := range paths {
		version[i] = Measure{Name: "docker version through the " + p.name, Unit: "ms"}
		warm[i] = Measure{Name: "warm docker build (all steps cached) through the " + p.name, Unit: "s"}
	}
	// Commands alternate between the two paths one by one, so that what
	// else the machine does falls on both alike.
	const versionsPerRep = 20
	for range cfg.reps {
		var total [2]time.Duration
		for range versionsPerRep {
			for i, p := range paths {
				d, err := docker(p.sock, "version")
				if err != nil {
					return sc, err
				}
				total[i] += d
			}
		}
		for i, p := range paths {
			version[i].Samples = append(version[i].Samples, float64(total[i].Microseconds())/versionsPerRep/1000)
			d, err := docker(p.sock, build...)
			if err != nil {
				return sc, err
			}
			warm[i].Samples = append(warm[i].Samples, secs(d))
		}
	}
	// The guard's own cost, without the CLI's start-up: /_ping from Go.
	ping := make([]Measure, 2)
	for i, p := range paths {
		ping[i] = Measure{Name: "/_ping from Go through the " + p.name, Unit: "ms"}
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", p.sock)
		}}}
		defer client.CloseIdleConnections()
		for range cfg.reps {
			start := time.Now()
			for range 200 {
				res, err := client.Get("http://docker/_ping")
				if err != nil {
					return sc, err
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			ping[i].Samples = append(ping[i].Samples, float64(time.Since(start).Microseconds())/200/1000)
		}
	}
	sc.Measures = append(append(version, warm...), ping...)
	buildRatio := warm[1].Median() / warm[0].Median()
	versionRatio := version[1].Median() / version[0].Median()
	worst := max(buildRatio, versionRatio)
	sc.Ratio = &Ratio{Name: "guard / plain proxy, the worse of build and version", Value: worst, Target: "≤ 1.05", Met: worst <= 1.05}
	sc.Notes = append(sc.Notes,
		fmt.Sprintf("warm build: guard / proxy %.3f; docker version: guard / proxy %.3f. Both over one SSH connection to the bed's remote host; the docker CLI (about 70–95 ms a command on this machine) is in both. /_ping from Go (keep-alive): guard %.2f ms, proxy %.2f ms a request.", buildRatio, versionRatio, ping[1].Median(), ping[0].Median()))
	return sc, nil
}
