package main

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// benchPool is a server with a pool of Docker hosts, each a bed of its own
// (namespace, sshd, dockerd).
type benchPool struct {
	srv   *jetwayServer
	hosts []*testbed.Bed
}

func (e *benchEnv) startPool(ctx context.Context, name string, n int) (*benchPool, error) {
	srv, err := e.startServer(ctx, name, "127.0.0.1", false, "--concurrency", "2", "--host-check-interval", "2s")
	if err != nil {
		return nil, err
	}
	p := &benchPool{srv: srv}
	for i := range n {
		b, err := testbed.Up(ctx, testbed.Config{Owner: os.Getpid(), NoLocalDocker: true, NoRegistry: true, Logger: e.log})
		if err != nil {
			p.close()
			return nil, err
		}
		p.hosts = append(p.hosts, b)
		key, _ := os.ReadFile(b.ClientKey)
		known, _ := os.ReadFile(b.KnownHosts)
		for param, v := range map[string]string{fmt.Sprintf("/bench/pool/h%d/KEY", i): string(key), fmt.Sprintf("/bench/pool/h%d/KNOWN", i): string(known)} {
			if err := srv.client.Do(ctx, http.MethodPost, "/v1/params", nil, api.PutParamRequest{Name: param, Type: "SecureString", Value: v, Overwrite: true}, nil); err != nil {
				p.close()
				return nil, err
			}
		}
	}
	return p, nil
}

// register adds host i to pool under name.
func (p *benchPool) register(ctx context.Context, i int, name, pool string) error {
	b := p.hosts[i]
	h := api.DockerHost{Name: name, URL: b.DockerHostSSH(), Pool: pool,
		SSHKey: fmt.Sprintf("SSM:/bench/pool/h%d/KEY", i), KnownHosts: fmt.Sprintf("SSM:/bench/pool/h%d/KNOWN", i)}
	return p.srv.client.Do(ctx, http.MethodPost, "/v1/hosts", nil, h, nil)
}

// waitUp waits until the server has seen host name up (or down).
func (p *benchPool) wait(ctx context.Context, name string, up bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var h api.DockerHost
		if err := p.srv.client.Do(ctx, http.MethodGet, "/v1/hosts/"+name, nil, nil, &h); err == nil && h.State != nil && h.State.Up == up {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("host %s was not seen up=%v within 60 s", name, up)
}

func (p *benchPool) close() {
	if p.srv != nil {
		p.srv.stop()
	}
	for _, b := range p.hosts {
		_ = b.Down()
	}
}

// poolProject writes a project whose dependency step (its own, so no two
// projects share a cache key) takes a second of CPU.
func (e *benchEnv) poolProject(name, pool string) (string, error) {
	dir := filepath.Join(e.work, "pool-"+name)
	files := map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo %s && head -c 30000000 /dev/urandom | gzip -1 | sha256sum > /deps\nCOPY app.txt /app.txt\n", testbed.BaseImage, name),
		"app.txt":    "v0\n",
		"jetway.yaml": fmt.Sprintf("project: %s\ndocker_host: {pool: %s}\nimage:\n  name: %s/app\n  builder: classic\n  push: false\n",
			name, pool, name),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func depStepCached(r api.Run) bool {
	if r.Summary == nil || r.Summary.Build == nil {
		return false
	}
	for _, st := range r.Summary.Build.Steps {
		if strings.HasPrefix(st.Instruction, "RUN echo") {
			return st.Cached
		}
	}
	return false
}

// scenarioPoolAffinity: 12 projects deploy 5 times each over a pool of
// 3, once with the server's affinity and once with a host chosen at
// random for each deploy (a pool of one host each, picked by rewriting
// docker_host); how many warm deploys (2nd to 5th) found their
// dependency layer in the cache.
func scenarioPoolAffinity(ctx context.Context, e *benchEnv, cfg config) (Scenario, error) {
	sc := Scenario{Title: "Docker host pool: 12 projects × 5 deploys over 3 hosts, warm deploys that found their cache, affinity vs a random host"}
	p, err := e.startPool(ctx, "pool-affinity", 3)
	if err != nil {
		return sc, err
	}
	defer p.close()
	for i := range 3 {
		if err := p.register(ctx, i, fmt.Sprintf("a%d", i+1), "affinity"); err != nil {
			return sc, err
		}
		if err := p.register(ctx, i, fmt.Sprintf("r%d", i+1), fmt.Sprintf("random-%d", i+1)); err != nil {
			return sc, err
		}
	}
	for i := range 3 {
		for _, n := range []string{fmt.Sprintf("a%d", i+1), fmt.Sprintf("r%d", i+1)} {
			if err := p.wait(ctx, n, true); err != nil {
				return sc, err
			}
		}
	}
	rng := mathrand.New(mathrand.NewPCG(13, 21))
	share := func(mode string) (Measure, float64, error) {
		m := Measure{Name: mode + ": deploy time", Unit: "s"}
		hits, warm := 0, 0
		for proj := range 12 {
			name := fmt.Sprintf("%s-%d", mode, proj)
			dir, err := e.poolProject(name, "affinity")
			if err != nil {
				return m, 0, err
			}
			for d := range 5 {
				if mode == "random" {
					yaml := fmt.Sprintf("project: %s\ndocker_host: {pool: random-%d}\nimage:\n  name: %s/app\n  builder: classic\n  push: false\n", name, rng.IntN(3)+1, name)
					if err := os.WriteFile(filepath.Join(dir, "jetway.yaml"), []byte(yaml), 0o644); err != nil {
						return m, 0, err
					}
				}
				if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte(fmt.Sprintf("v%d\n", d)), 0o644); err != nil {
					return m, 0, err
				}
				r, err := e.deployOn(ctx, p.srv, dir)
				if err != nil {
					return m, 0, err
				}
				m.Samples = append(m.Samples, secs(r.wall))
				if d > 0 {
					warm++
					if depStepCached(r.run) {
						hits++
					}
				}
			}
		}
		return m, float64(hits) / float64(warm), nil
	}
	aff, affShare, err := share("affinity")
	if err != nil {
		return sc, err
	}
	rnd, rndShare, err := share("random")
	if err != nil {
		return sc, err
	}
	sc.Measures = []Measure{
		{Name: "affinity: warm deploys that found their cache", Unit: "%", Samples: []float64{affShare * 100}},
		{Name: "random host: warm deploys that found their cache", Unit: "%", Samples: []float64{rndShare * 100}},
		aff, rnd,
	}
	ratio := affShare / max(rndShare, 0.01)
	sc.Ratio = &Ratio{Name: "cache found, affinity / random", Value: ratio, Target: "> 1", Met: affShare == 1 && ratio > 1}
	sc.Notes = append(sc.Notes, "Each project's dependency step is its own (the project name is in it), so a cache hit means the deploy ran on a host that built that project before. The random choice is drawn with a fixed seed.")
	return sc, nil
}

// scenarioPoolSpill: a warm deploy with the project's home host up, and
// one when home is down and the run spills to a host that never built the
// project (each repetition a new project).
func scenarioPoolSpill(ctx context.Context, e *benchEnv, cfg config) (Scenario, error) {
	sc := Scenario{Title: "Docker host pool: deploy time with the home host down (spill to a cold host) vs up"}
	p, err := e.startPool(ctx, "pool-spill", 2)
	if err != nil {
		return sc, err
	}
	defer p.close()
	for i := range 2 {
		if err := p.register(ctx, i, fmt.Sprintf("s%d", i+1), "spill"); err != nil {
			return sc, err
		}
		if err := p.wait(ctx, fmt.Sprintf("s%d", i+1), true); err != nil {
			return sc, err
		}
	}
	up := Measure{Name: "warm deploy, home host up", Unit: "s"}
	down := Measure{Name: "deploy with home down, spilled to a cold host", Unit: "s"}
	for rep := range cfg.reps {
		dir, err := e.poolProject(fmt.Sprintf("spill-%d-%d", rep, time.Now().UnixNano()%100000), "spill")
		if err != nil {
			return sc, err
		}
		first, err := e.deployOn(ctx, p.srv, dir)
		if err != nil {
			return sc, err
		}
		home := first.run.Summary.DockerHostName
		if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte("v1\n"), 0o644); err != nil {
			return sc, err
		}
		warm, err := e.deployOn(ctx, p.srv, dir)
		if err != nil {
			return sc, err
		}
		up.Samples = append(up.Samples, secs(warm.wall))
		idx := 0
		if home == "s2" {
			idx = 1
		}
		b := p.hosts[idx]
		if err := b.SignalSSHD("sshd-22", syscall.SIGSTOP, true); err != nil {
			return sc, err
		}
		if err := p.wait(ctx, home, false); err != nil {
			_ = b.SignalSSHD("sshd-22", syscall.SIGCONT, true)
			return sc, err
		}
		if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte("v2\n"), 0o644); err != nil {
			return sc, err
		}
		spilled, err := e.deployOn(ctx, p.srv, dir)
		if cerr := b.SignalSSHD("sshd-22", syscall.SIGCONT, true); err == nil {
			err = cerr
		}
		if err != nil {
			return sc, err
		}
		if spilled.run.Summary.DockerHostName == home {
			return sc, fmt.Errorf("with %s down the run built on it", home)
		}
		down.Samples = append(down.Samples, secs(spilled.wall))
		if err := p.wait(ctx, home, true); err != nil {
			return sc, err
		}
	}
	sc.Measures = []Measure{up, down}
	ratio := down.Median() / up.Median()
	sc.Ratio = &Ratio{Name: "home down (spill) / home up", Value: ratio, Target: "reported"}
	sc.Ratio.Met = true
	sc.Notes = append(sc.Notes, "The home host's sshd is frozen (SIGSTOP) and the server's checks (every 2 s here) pass it over; the spilled deploy rebuilds the dependency layer on the other host, which never built the project.")
	return sc, nil
}
