package testbed

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Shared is one bed per test binary, started on first use. Declare it as a
// package variable and close it in TestMain:
//
//	var bed testbed.Shared
//
//	func TestMain(m *testing.M) { code := m.Run(); bed.Close(); os.Exit(code) }
type Shared struct {
	Config Config
	once   sync.Once
	bed    *Bed
	err    error
}

// Get returns the bed, starting it the first time. Where a bed cannot run
// (not root, tools missing) the test is skipped, except under CI=true, where
// skipping would hide untested code, so the test fails instead.
func (s *Shared) Get(t testing.TB) *Bed {
	t.Helper()
	s.once.Do(func() {
		if os.Geteuid() != 0 {
			s.err = fmt.Errorf("the test bed needs root")
		} else if s.err = CheckTools(); s.err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := s.Config
			cfg.Owner = os.Getpid()
			s.bed, s.err = Up(ctx, cfg)
		}
	})
	if s.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("test bed unavailable: %v", s.err)
		}
		t.Skipf("test bed unavailable (set CI=true to make this fail): %v", s.err)
	}
	return s.bed
}

// Close tears the bed down, if one was started.
func (s *Shared) Close() {
	if s.bed != nil {
		if err := s.bed.Down(); err != nil {
			fmt.Fprintln(os.Stderr, "test bed teardown:", err)
		}
	}
}
