package testbed

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// start launches a daemon in its own session, so it outlives a
// `jetway-testbed up` and is not hit by the terminal's Ctrl-C.
func (b *Bed) start(name string, args ...string) (*exec.Cmd, error) {
	logPath := filepath.Join(b.Dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	path, err := lookPath(args[0])
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	b.Procs = append(b.Procs, Proc{Name: name, PID: cmd.Process.Pid, Log: logPath})
	// Reap it when it exits so it never lingers as a zombie that looks alive.
	go func() { _ = cmd.Wait() }()
	return cmd, nil
}

// waitFor polls check until it succeeds, the process dies or the time is up,
// and then says where the daemon's log is.
func (b *Bed) waitFor(ctx context.Context, name string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = check(); last == nil {
			return nil
		}
		if p := b.proc(name); p != nil && !alive(p.PID) {
			return fmt.Errorf("%s exited: see %s (%s)", name, p.Log, tail(p.Log))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	p := b.proc(name)
	if p == nil {
		return fmt.Errorf("%s not ready after %s: %w", name, timeout, last)
	}
	return fmt.Errorf("%s not ready after %s: %w; see %s (%s)", name, timeout, last, p.Log, tail(p.Log))
}

func (b *Bed) proc(name string) *Proc {
	for i := range b.Procs {
		if b.Procs[i].Name == name {
			return &b.Procs[i]
		}
	}
	return nil
}

func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(data) > 600 {
		data = data[len(data)-600:]
	}
	return string(data)
}

// dockerd starts a daemon with its own data and exec roots under dir. netns
// is empty for this machine's network; otherwise nsenter joins the
// namespace's network only (ip netns exec would remount /sys and hide the
// cgroup mounts dockerd needs).
func (b *Bed) dockerd(ctx context.Context, name, dir, netns string, extra ...string) (socket string, err error) {
	socket = filepath.Join(dir, "docker.sock")
	args := []string{
		"dockerd",
		"--host", "unix://" + socket,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--userland-proxy=false",
	}
	if b.Registry != "" {
		args = append(args, "--insecure-registry", b.Registry)
	}
	args = append(args, extra...)
	if netns != "" {
		args = append([]string{"nsenter", "--net=/var/run/netns/" + netns}, args...)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", err
	}
	if _, err := b.start(name, args...); err != nil {
		return "", err
	}
	client := unixHTTPClient(socket)
	err = b.waitFor(ctx, name, 60*time.Second, func() error {
		resp, err := client.Get("http://docker/_ping")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/_ping: %s", resp.Status)
		}
		return nil
	})
	return socket, err
}

func unixHTTPClient(socket string) *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func (b *Bed) startRemoteDocker(ctx context.Context) error {
	dir := filepath.Join(b.Dir, "remote")
	b.RemoteTLS = "tcp://" + net.JoinHostPort(b.RemoteIP, "2376")
	socket, err := b.dockerd(ctx, "dockerd-remote", dir, b.NetNS,
		"--host", b.RemoteTLS,
		"--tlsverify",
		"--tlscacert", filepath.Join(b.Dir, "tls", "server", "ca.pem"),
		"--tlscert", filepath.Join(b.Dir, "tls", "server", "cert.pem"),
		"--tlskey", filepath.Join(b.Dir, "tls", "server", "key.pem"),
	)
	b.RemoteSocket = socket
	return err
}

func (b *Bed) startLocalDocker(ctx context.Context) error {
	b.LocalTCP = "tcp://" + net.JoinHostPort(b.HostIP, "2375")
	socket, err := b.dockerd(ctx, "dockerd-local", filepath.Join(b.Dir, "local"), "", "--host", b.LocalTCP, "--tls=false")
	b.LocalSocket = socket
	return err
}

func (b *Bed) setupTLS(context.Context) error {
	ca, err := NewCA("jetway test bed CA " + b.ID)
	if err != nil {
		return err
	}
	serverDir := filepath.Join(b.Dir, "tls", "server")
	if err := os.MkdirAll(serverDir, 0o700); err != nil {
		return err
	}
	cert, key, err := ca.Issue("remote docker host", net.ParseIP(b.RemoteIP))
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.pem": ca.PEM, "cert.pem": cert, "key.pem": key} {
		if err := os.WriteFile(filepath.Join(serverDir, name), data, 0o600); err != nil {
			return err
		}
	}
	b.TLSCertDir = filepath.Join(b.Dir, "tls", "client")
	return ca.WriteClientDir(b.TLSCertDir)
}

// FreshDocker starts a dockerd on this machine with an empty data root —
// what a fresh runner machine has — and returns its socket and a func that
// stops it and removes everything it stored.
func (b *Bed) FreshDocker(ctx context.Context, name string) (socket string, stop func() error, err error) {
	dir := filepath.Join(b.Dir, "fresh-"+name)
	procName := "dockerd-fresh-" + name
	socket, err = b.dockerd(ctx, procName, dir, "")
	stop = func() error {
		if p := b.proc(procName); p != nil {
			_ = syscall.Kill(p.PID, syscall.SIGTERM)
			waitGone([]int{p.PID}, 20*time.Second)
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		for i, p := range b.Procs {
			if p.Name == procName {
				b.Procs = append(b.Procs[:i], b.Procs[i+1:]...)
				break
			}
		}
		if err := unmountUnder(dir); err != nil {
			return err
		}
		return os.RemoveAll(dir)
	}
	if err != nil {
		_ = stop()
		return "", nil, err
	}
	return socket, stop, b.save()
}
