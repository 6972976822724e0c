// Package pgtest starts a throw-away PostgreSQL cluster for tests: Debian's
// postgresql binaries, initdb into a temporary directory, the server on a
// private port and socket directory, no TCP listener. Each test gets a
// database of its own.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Shared is one cluster per test binary, started on first use. Declare it
// as a package variable and close it in TestMain:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) { code := m.Run(); pg.Close(); os.Exit(code) }
type Shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
	dbs     atomic.Int64
}

// Cluster is a running throw-away PostgreSQL server.
type Cluster struct {
	Dir     string // data directory and socket directory live under it
	Socket  string // the socket directory
	Port    int
	bin     string
	runAs   *user.User
	stopped bool
}

// URL returns a connection URL for database name over the cluster's
// socket, as the superuser.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", name, c.Socket, c.Port)
}

// DB returns a new, empty database's URL, dropped when the test ends.
func (s *Shared) DB(t testing.TB) string {
	t.Helper()
	c := s.Cluster(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbs.Add(1))
	admin, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("creating a test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", c.URL("postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	})
	return c.URL(name)
}

// Cluster returns the cluster, starting it the first time. Where it cannot
// run (PostgreSQL not installed) the test is skipped, except under CI=true,
// where it fails: skipping would hide untested code.
func (s *Shared) Cluster(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cluster, s.err = Start(ctx)
	})
	if s.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL unavailable: %v", s.err)
		}
		t.Skipf("PostgreSQL unavailable (set CI=true to make this fail): %v", s.err)
	}
	return s.cluster
}

// Close stops the cluster, if one was started, and removes its files.
func (s *Shared) Close() {
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
}

// binDir finds the newest installed PostgreSQL's binaries.
func binDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("no initdb: install Debian's postgresql (apt-get install postgresql)")
	}
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return vi < vj
	})
	return filepath.Dir(found[len(found)-1]), nil
}

// Start makes and starts a cluster. PostgreSQL refuses to run as root, so
// as root it runs as the postgres user that Debian's package creates.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		if c.runAs, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running PostgreSQL as root needs the postgres user: %w", err)
		}
	}
	if c.Dir, err = os.MkdirTemp("", "jetway-pg-"); err != nil {
		return nil, err
	}
	c.Socket = filepath.Join(c.Dir, "sock")
	if err := os.Mkdir(c.Socket, 0o700); err != nil {
		return nil, err
	}
	if c.runAs != nil {
		uid, _ := strconv.Atoi(c.runAs.Uid)
		gid, _ := strconv.Atoi(c.runAs.Gid)
		for _, d := range []string{c.Dir, c.Socket} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
		// The test binary's temp dir may be one the postgres user cannot pass.
		if err := os.Chmod(c.Dir, 0o711); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(c.Dir, "data")
	if out, err := c.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		os.RemoveAll(c.Dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	for range 5 {
		c.Port, err = freePort()
		if err != nil {
			break
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", c.Port, c.Socket)
		var out []byte
		out, err = c.run(ctx, "pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(c.Dir, "log"), "-w", "-t", "60", "start")
		if err == nil {
			return c, nil
		}
		log, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
		err = fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
		if !bytes.Contains(log, []byte("Address already in use")) {
			break
		}
	}
	os.RemoveAll(c.Dir)
	return nil, err
}

// Stop stops the server at once and removes the cluster's files.
func (c *Cluster) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "stop")
	if rmErr := os.RemoveAll(c.Dir); err == nil {
		err = rmErr
	}
	if err != nil {
		return fmt.Errorf("stopping PostgreSQL: %w %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, tool), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C"}
	cmd.Dir = "/"
	if c.runAs != nil {
		uid, _ := strconv.Atoi(c.runAs.Uid)
		gid, _ := strconv.Atoi(c.runAs.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
