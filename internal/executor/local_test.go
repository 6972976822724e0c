//go:build linux

package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play the process that starts a runner
// (a server or an agent), so that a test can kill it.
func TestMain(m *testing.M) {
	if dir := os.Getenv("EXECUTOR_TEST_PARENT_DIR"); dir != "" {
		os.Exit(parentMain(dir))
	}
	os.Exit(m.Run())
}

// parentMain starts fakeRunner in dir with the parent-death signal named
// in EXECUTOR_TEST_SIGNAL, and waits to be killed.
func parentMain(dir string) int {
	sig, _ := strconv.Atoi(os.Getenv("EXECUTOR_TEST_SIGNAL"))
	if err := os.Chdir(dir); err != nil { // the runner inherits it
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l := &Local{Binary: filepath.Join(dir, "runner"), LogDir: dir, ParentDeathSignal: syscall.Signal(sig)}
	if _, err := l.Start(context.Background(), Launch{RunID: "r1"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {}
}

// fakeRunner notes its pid, and a SIGTERM in the file "terminated", as a
// runner that reports its run cancelled would.
const fakeRunner = `#!/bin/sh
trap 'echo > terminated; exit 0' TERM
echo $$ > pid.tmp && mv pid.tmp pid
while :; do sleep 0.05; done
`

func TestParentDeathSignal(t *testing.T) {
	for _, tc := range []struct {
		name           string
		signal         syscall.Signal
		wantTerminated bool
	}{
		{"default: SIGTERM, the runner reports", 0, true},
		{"SIGKILL: the runner dies silently", syscall.SIGKILL, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "runner"), []byte(fakeRunner), 0o755); err != nil {
				t.Fatal(err)
			}
			parent := exec.Command(os.Args[0], "-test.run=^$")
			parent.Env = append(os.Environ(), "EXECUTOR_TEST_PARENT_DIR="+dir, fmt.Sprintf("EXECUTOR_TEST_SIGNAL=%d", tc.signal))
			var stderr bytes.Buffer
			parent.Stderr = &stderr
			if err := parent.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
			var pid int
			waitFor(t, "the runner to start", func() bool {
				data, err := os.ReadFile(filepath.Join(dir, "pid"))
				pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
				return err == nil && pid > 0
			})
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

			_ = parent.Process.Kill()
			_ = parent.Wait()
			waitFor(t, "the runner to end", func() bool { return !alive(pid) })
			_, err := os.Stat(filepath.Join(dir, "terminated"))
			if terminated := err == nil; terminated != tc.wantTerminated {
				t.Errorf("the runner ran its SIGTERM handler: %v, want %v (parent's stderr: %s)", terminated, tc.wantTerminated, stderr.String())
			}
		})
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	// pid (comm) STATE …; comm may hold spaces and parentheses.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z'
	}
	return true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
