package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// benchEnv is the test bed, a jetway server and the tools around them.
type benchEnv struct {
	log     *slog.Logger
	bed     *testbed.Bed
	work    string
	jetway  string // the jetway binary
	home    string // the main server's and the clients' HOME
	url     string // the main server's
	client  *apiclient.Client
	sshPath string // PATH whose ssh uses the bed's key and known_hosts
	sshConf string
	base    string // the base image in the registry

	servers   []*jetwayServer // every server started, the main one first
	agents    []*agentProc
	runsDir   string // the work dirs of the scenarios' own executors
	executors int    // how many got a work dir and UID range
}

func setup(ctx context.Context, log *slog.Logger) (*benchEnv, error) {
	e := &benchEnv{log: log}
	var err error
	if e.work, err = os.MkdirTemp("", "jetway-bench-"); err != nil {
		return nil, err
	}
	log.Info("building jetway")
	e.jetway = filepath.Join(e.work, "jetway")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", e.jetway, "./cmd/jetway").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build (run from the repository root): %v\n%s", err, out)
	}
	log.Info("starting the test bed")
	if e.bed, err = testbed.Up(ctx, testbed.Config{Owner: os.Getpid(), Logger: log}); err != nil {
		e.close()
		return nil, err
	}
	// Some scenarios use the bed's local daemon (the cheapest real run).
	srv, err := e.startServer(ctx, "main", "127.0.0.1", false, "--concurrency", "4", "--allow-local-docker")
	if err != nil {
		e.close()
		return nil, err
	}
	e.url, e.home, e.client = srv.url, srv.home, srv.client
	if err := e.prepare(ctx); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// prepare stores the secrets, pushes a base image to the registry (a fresh
// daemon pulls it from there, as a fresh runner would) and writes the ssh
// wrapper the docker CLI's ssh:// uses.
func (e *benchEnv) prepare(ctx context.Context) error {
	b := e.bed
	key, err := os.ReadFile(b.ClientKey)
	if err != nil {
		return err
	}
	known, err := os.ReadFile(b.KnownHosts)
	if err != nil {
		return err
	}
	for name, v := range map[string]string{"/bench/JETS_SSH_KEY": string(key), "/bench/JETS_SSH_KNOWN": string(known), "/bench/DOCKER_PASS": b.RegistryPass} {
		if err := e.putParam(ctx, name, "SecureString", v); err != nil {
			return err
		}
	}
	e.base = b.Registry + "/jetway-bench/base:latest"
	cfg := filepath.Join(e.work, "docker-config")
	remote := "unix://" + b.RemoteSocket
	for _, args := range [][]string{
		{"--host", remote, "tag", testbed.BaseImage, e.base},
		{"--host", remote, "login", "-u", b.RegistryUser, "--password-stdin", b.Registry},
		{"--host", remote, "push", e.base},
	} {
		cmd := exec.CommandContext(ctx, "docker", append([]string{"--config", cfg}, args...)...)
		cmd.Stdin = strings.NewReader(b.RegistryPass)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	e.sshConf = filepath.Join(e.work, "ssh_config")
	conf := fmt.Sprintf("Host *\n  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n", b.ClientKey, b.KnownHosts)
	if err := os.WriteFile(e.sshConf, []byte(conf), 0o600); err != nil {
		return err
	}
	bin := filepath.Join(e.work, "sshbin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte("#!/bin/sh\nexec /usr/bin/ssh -F "+e.sshConf+" \"$@\"\n"), 0o755); err != nil {
		return err
	}
	e.sshPath = bin + ":" + os.Getenv("PATH")
	return nil
}

func (e *benchEnv) putParam(ctx context.Context, name, typ, value string) error {
	return e.client.Do(ctx, http.MethodPost, "/v1/params", nil, api.PutParamRequest{Name: name, Type: typ, Value: value, Overwrite: true}, nil)
}

var queuedRE = regexp.MustCompile(`run ([0-9a-f]{8}) queued .*; uploaded (\d+) bytes\)`)

// deployResult is one `jetway deploy`.
type deployResult struct {
	wall  time.Duration
	runID string
	sent  int64
	run   api.Run
}

func (e *benchEnv) deploy(ctx context.Context, dir string) (deployResult, error) {
	return e.deployOn(ctx, &jetwayServer{home: e.home, url: e.url, client: e.client}, dir)
}

// deployOn deploys dir to server s.
func (e *benchEnv) deployOn(ctx context.Context, s *jetwayServer, dir string) (deployResult, error) {
	cmd := exec.CommandContext(ctx, e.jetway, "deploy", dir)
	cmd.Env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH"), "JETWAY_SERVER=" + s.url}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := deployResult{wall: time.Since(start)}
	m := queuedRE.FindStringSubmatch(stderr.String())
	if err != nil || m == nil {
		return res, fmt.Errorf("jetway deploy %s: %v\n%s\n%s", dir, err, lastLines(stdout.String(), 30), stderr.String())
	}
	res.runID = m[1]
	fmt.Sscan(m[2], &res.sent)
	if err := s.client.Do(ctx, http.MethodGet, "/v1/runs/"+res.runID, nil, nil, &res.run); err != nil {
		return res, err
	}
	return res, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// copyProject copies an example and points its registry at the bed's.
func (e *benchEnv) copyProject(example, name string, replace map[string]string) (string, error) {
	dst := filepath.Join(e.work, name)
	if out, err := exec.Command("cp", "-r", example, dst).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cp: %v: %s", err, out)
	}
	yaml := filepath.Join(dst, "jetway.yaml")
	data, err := os.ReadFile(yaml)
	if err != nil {
		return "", err
	}
	text := strings.ReplaceAll(string(data), "registry.example.com:5000", e.bed.Registry)
	for old, repl := range replace {
		text = strings.ReplaceAll(text, old, repl)
	}
	return dst, os.WriteFile(yaml, []byte(text), 0o644)
}

func (e *benchEnv) close() {
	for _, a := range e.agents {
		a.stop()
	}
	for _, s := range e.servers {
		s.stop()
	}
	if e.runsDir != "" {
		os.RemoveAll(e.runsDir)
	}
	if e.bed != nil {
		if err := e.bed.Down(); err != nil {
			e.log.Warn("removing the test bed", "err", err)
		}
	}
	if e.work != "" {
		os.RemoveAll(e.work)
	}
}
