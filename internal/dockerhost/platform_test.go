package dockerhost

import (
	"strings"
	"testing"
)

func TestPlatformWarning(t *testing.T) {
	host := Platform{OS: "linux", Arch: "amd64"}
	tests := []struct {
		requested string
		warn      bool
		err       bool
	}{
		{"", false, false},
		{"linux/amd64", false, false},
		{"linux/x86_64", false, false},
		{"LINUX/AMD64", false, false},
		{"linux/arm64", true, false},
		{"linux/aarch64/v8", true, false},
		{"windows/amd64", true, false},
		{"amd64", false, true},
	}
	for _, tt := range tests {
		w, err := PlatformWarning(host, tt.requested)
		if (err != nil) != tt.err {
			t.Errorf("%q: err = %v", tt.requested, err)
			continue
		}
		if (w != "") != tt.warn {
			t.Errorf("%q: warning = %q, want warning %v", tt.requested, w, tt.warn)
		}
		if tt.warn && !strings.Contains(w, "linux/amd64") {
			t.Errorf("%q: warning %q does not name the host platform", tt.requested, w)
		}
	}
}
