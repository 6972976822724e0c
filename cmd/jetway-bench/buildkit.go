package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jetway-dev/jetway/internal/testbed"
)

// wanRate is the link of scenario 9, as `tc tbf` takes it.
const wanRate = "100mbit"

// bridgedProject writes a project that builds on the bed's bridged remote
// daemon over ssh (BuildKit's RUN steps need a bridge; the classic
// builder works there too) and pushes to the bed's registry.
func (e *benchEnv) bridgedProject(ctx context.Context, name, builder, dockerfile string, files map[string][]byte) (string, error) {
	socket, err := e.bed.BridgedDocker(ctx)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(e.work, name)
	yaml := fmt.Sprintf(`project: %s
ssm_env: bench
env:
  vars:
    DOCKER_HOST: %s
    JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN
    DOCKER_USER: %s
    DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
    DOCKER_REGISTRY: %s
image:
  name: %s/%s
  builder: %s
  push: true
timeout: 20m
`, name, e.bed.DockerHostSSHTo(socket), e.bed.RegistryUser, e.bed.Registry, e.bed.Registry, name, builder)
	all := map[string][]byte{"jetway.yaml": []byte(yaml), "Dockerfile": []byte(dockerfile)}
	for k, v := range files {
		all[k] = v
	}
	for rel, data := range all {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// checkBuilder fails when a run did not build with the builder its
// project asks for (a BuildKit build that fell back to classic would
// measure the wrong peer).
func (e *benchEnv) checkBuilder(ctx context.Context, r deployResult, builder string) error {
	var log bytes.Buffer
	if _, err := e.client.Follow(ctx, r.runID, &log); err != nil {
		return err
	}
	want := map[string]string{"classic": "classic builder)", "buildkit": "BuildKit)"}[builder]
	if !strings.Contains(log.String(), want) || strings.Contains(log.String(), "building with the classic builder") {
		return fmt.Errorf("run %s did not build with %s:\n%s", r.runID, builder, lastLines(log.String(), 30))
	}
	return nil
}

// limitLink puts (or takes off) a token bucket of wanRate on both ends of
// the veth between this machine and the bed's remote host: the build
// context and the session go one way, the push the other.
func (e *benchEnv) limitLink(ctx context.Context, on bool) error {
	// The namespace's end is named as testbed's setupNetwork names it.
	devs := [][]string{{"tc"}, {"tc", "-n", e.bed.NetNS}}
	names := []string{e.bed.VethHost, "jw" + e.bed.ID + "b"}
	for i, tc := range devs {
		args := append(append([]string{}, tc...), "qdisc", "del", "dev", names[i], "root")
		if on {
			args = append(append([]string{}, tc...), "qdisc", "replace", "dev", names[i], "root", "tbf", "rate", wanRate, "burst", "64kb", "latency", "400ms")
		}
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil && (on || !bytes.Contains(out, []byte("No such file"))) && !strings.Contains(string(out), "Cannot delete qdisc with handle of zero") {
			return fmt.Errorf("%s: %v: %s (tc is in Debian's iproute2)", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// scenarioWAN: a warm deploy after a one-file change of a project with a
// 100 MB context, on a link of 100 Mbit/s and on the unlimited link; the
// classic builder sends the whole context each time, BuildKit's file sync
// only what changed.
func scenarioWAN(ctx context.Context, e *benchEnv, cfg config) (sc Scenario, err error) {
	sc = Scenario{Title: "WAN: warm deploy after a one-file change, 100 MB context, link to the Docker host at 100 Mbit/s vs unlimited — classic builder vs BuildKit"}
	big := make([]byte, 100<<20)
	_, _ = rand.Read(big)
	dockerfile := fmt.Sprintf("FROM %s\nCOPY big.bin /big.bin\nCOPY app.txt /app.txt\nCMD [\"cat\", \"/app.txt\"]\n", testbed.BaseImage)
	files := map[string][]byte{"big.bin": big, "app.txt": []byte("one\n")}
	peers := []struct {
		builder, dir string
		limited      bool
		m            Measure
	}{
		{builder: "classic", m: Measure{Name: "classic builder, unlimited link", Unit: "s"}},
		{builder: "classic", limited: true, m: Measure{Name: "classic builder, 100 Mbit/s", Unit: "s"}},
		{builder: "buildkit", m: Measure{Name: "BuildKit, unlimited link", Unit: "s"}},
		{builder: "buildkit", limited: true, m: Measure{Name: "BuildKit, 100 Mbit/s", Unit: "s"}},
	}
	if err := e.limitLink(ctx, false); err != nil {
		return sc, err
	}
	dirs := map[string]string{}
	for _, b := range []string{"classic", "buildkit"} {
		if dirs[b], err = e.bridgedProject(ctx, "wan-"+b, b, dockerfile, files); err != nil {
			return sc, err
		}
		r, err := e.deploy(ctx, dirs[b]) // cold: the big layer built and pushed once
		if err != nil {
			return sc, err
		}
		if err := e.checkBuilder(ctx, r, b); err != nil {
			return sc, err
		}
	}
	defer func() { err = errors.Join(err, e.limitLink(context.Background(), false)) }()
	// Peers take turns within each repetition; each deploy follows a
	// change of app.txt, so the last layer is rebuilt and pushed.
	for range cfg.reps {
		for i := range peers {
			p := &peers[i]
			if err := e.limitLink(ctx, p.limited); err != nil {
				return sc, err
			}
			if err := touch(filepath.Join(dirs[p.builder], "app.txt")); err != nil {
				return sc, err
			}
			r, err := e.deploy(ctx, dirs[p.builder])
			if err != nil {
				return sc, err
			}
			p.m.Samples = append(p.m.Samples, secs(r.wall))
		}
	}
	for _, p := range peers {
		sc.Measures = append(sc.Measures, p.m)
	}
	bk := peers[3].m.Median() / peers[2].m.Median()
	sc.Ratio = &Ratio{Name: "BuildKit: 100 Mbit/s / unlimited", Value: bk, Target: "≤ 1.1", Met: bk <= 1.1}
	sc.Notes = append(sc.Notes,
		fmt.Sprintf("Classic builder: 100 Mbit/s / unlimited **%s**; at 100 Mbit/s, classic / BuildKit **%s**.",
			format(peers[1].m.Median()/peers[0].m.Median()), format(peers[1].m.Median()/peers[3].m.Median())),
		"The project is a 100 MB file of random bytes and a small app.txt, changed before every deploy; `jetway deploy` uploads only app.txt to the server either way. The Docker host is the bed's bridged remote dockerd over ssh://, and the limit is `tc qdisc … tbf rate 100mbit burst 64kb latency 400ms` on both ends of its veth. Each deploy pushes the rebuilt app layer.")
	return sc, nil
}

// depPackages is how many packages scenario 10's install step fetches.
const depPackages = 200

// scenarioDeps: an install step that fetches 200 packages over HTTP,
// after one package changed: the classic builder reruns it and fetches
// everything; BuildKit's cache mount keeps the packages of the last run,
// and only the changed one is fetched.
func scenarioDeps(ctx context.Context, e *benchEnv, cfg config) (sc Scenario, err error) {
	sc = Scenario{Title: fmt.Sprintf("Dependencies changed: an install step fetching %d packages of 256 KB over HTTP, one package changed — classic builder (no cache mount) vs BuildKit (RUN --mount=type=cache)", depPackages)}
	srvDir := filepath.Join(e.work, "packages")
	if err := os.MkdirAll(srvDir, 0o755); err != nil {
		return sc, err
	}
	pkg := make([]byte, 256<<10)
	lock := make([]string, depPackages)
	version := 1
	writePackage := func(i, v int) error {
		_, _ = rand.Read(pkg)
		lock[i] = fmt.Sprintf("pkg%03d-%d.tgz", i, v)
		return os.WriteFile(filepath.Join(srvDir, lock[i]), pkg, 0o644)
	}
	for i := range depPackages {
		if err := writePackage(i, version); err != nil {
			return sc, err
		}
	}
	// The package server runs on the remote host (in the bed's network
	// namespace), where the build containers on its bridge reach it; they
	// have no route to this machine.
	addr := net.JoinHostPort(e.bed.RemoteIP, "8088")
	httpd := exec.Command("nsenter", "--net=/var/run/netns/"+e.bed.NetNS, "busybox", "httpd", "-f", "-p", addr, "-h", srvDir)
	if err := httpd.Start(); err != nil {
		return sc, fmt.Errorf("starting busybox httpd (Debian's busybox-static): %w", err)
	}
	defer func() { _ = httpd.Process.Kill(); _ = httpd.Wait() }()
	fetch := `wget -q -O "$DIR/$p" "http://` + addr + `/$p" || exit 1`
	dockerfiles := map[string]string{
		"classic":  fmt.Sprintf("FROM %s\nCOPY packages.lock /app/packages.lock\nRUN mkdir -p /app/deps && DIR=/app/deps && for p in $(cat /app/packages.lock); do %s; done\nCOPY app.txt /app/app.txt\n", testbed.BaseImage, fetch),
		"buildkit": fmt.Sprintf("FROM %s\nCOPY packages.lock /app/packages.lock\nRUN --mount=type=cache,target=/cache mkdir -p /app/deps /cache/pkgs && DIR=/cache/pkgs && for p in $(cat /app/packages.lock); do [ -f \"$DIR/$p\" ] || { %s; }; cp \"$DIR/$p\" /app/deps/; done\nCOPY app.txt /app/app.txt\n", testbed.BaseImage, fetch),
	}
	lockFile := func() []byte { return []byte(strings.Join(lock, "\n") + "\n") }
	builders := []string{"classic", "buildkit"}
	dirs := map[string]string{}
	for _, b := range builders {
		if dirs[b], err = e.bridgedProject(ctx, "deps-"+b, b, dockerfiles[b], map[string][]byte{"packages.lock": lockFile(), "app.txt": []byte("one\n")}); err != nil {
			return sc, err
		}
		r, err := e.deploy(ctx, dirs[b]) // warm: every package fetched once
		if err != nil {
			return sc, err
		}
		if err := e.checkBuilder(ctx, r, b); err != nil {
			return sc, err
		}
	}
	deploys := map[string]*Measure{
		"classic":  {Name: "jetway deploy, classic builder (no cache mount)", Unit: "s"},
		"buildkit": {Name: "jetway deploy, BuildKit with a cache mount", Unit: "s"},
	}
	steps := map[string]*Measure{
		"classic":  {Name: "  install step, classic builder", Unit: "s"},
		"buildkit": {Name: "  install step, BuildKit", Unit: "s"},
	}
	for rep := range cfg.reps {
		// One package changes, as a bumped version in a lock file.
		version++
		if err := writePackage(rep%depPackages, version); err != nil {
			return sc, err
		}
		for _, b := range builders {
			if err := os.WriteFile(filepath.Join(dirs[b], "packages.lock"), lockFile(), 0o644); err != nil {
				return sc, err
			}
			r, err := e.deploy(ctx, dirs[b])
			if err != nil {
				return sc, err
			}
			deploys[b].Samples = append(deploys[b].Samples, secs(r.wall))
			steps[b].Samples = append(steps[b].Samples, stepSeconds(r.run, "RUN "))
		}
	}
	sc.Measures = []Measure{*deploys["classic"], *steps["classic"], *deploys["buildkit"], *steps["buildkit"]}
	ratio := deploys["buildkit"].Median() / deploys["classic"].Median()
	sc.Ratio = &Ratio{Name: "deploy, BuildKit / classic", Value: ratio}
	sc.Notes = append(sc.Notes, fmt.Sprintf("Install step, classic / BuildKit: **%s**. The packages (%d × 256 KB of random bytes, %d MB) are served by busybox httpd on the remote host, where the build containers on the bridged daemon's bridge reach it; the install step reads a lock file and fetches each package with busybox wget (BuildKit: only those missing from the cache mount, then copies them into the image, as a package manager installs from its cache). Peers take turns after each change.",
		format(steps["classic"].Median()/steps["buildkit"].Median()), depPackages, depPackages/4))
	return sc, nil
}
