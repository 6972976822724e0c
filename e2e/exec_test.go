package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

func execJetway(t *testing.T, s *serverProc, dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(jetwayBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + s.Home, "PATH=" + os.Getenv("PATH"), "JETWAY_SERVER=" + s.URL}
	return cmd
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
