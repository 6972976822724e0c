package dockerhost

import (
	"fmt"
	"strings"
)

// Platform is an os/arch[/variant] pair as Docker writes it.
type Platform struct {
	OS, Arch, Variant string
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads "linux/amd64", "linux/arm64/v8" and common aliases
// such as x86_64 and aarch64.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q is not of the form os/arch[/variant], as in linux/amd64", s)
	}
	p := Platform{OS: parts[0], Arch: normalizeArch(parts[1])}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func normalizeArch(a string) string {
	switch strings.ToLower(a) {
	case "x86_64", "x86-64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "i386", "i686", "386":
		return "386"
	case "armhf", "armv7l", "arm":
		return "arm"
	}
	return strings.ToLower(a)
}

// PlatformWarning compares the host's platform with the one a build asks
// for and returns a warning when they differ, or "" when they match (or
// nothing was asked for). A mismatch still builds through emulation when the
// host has binfmt handlers, only much slower, so it warns rather than fails.
func PlatformWarning(host Platform, requested string) (string, error) {
	if strings.TrimSpace(requested) == "" {
		return "", nil
	}
	want, err := ParsePlatform(requested)
	if err != nil {
		return "", err
	}
	host.Arch = normalizeArch(host.Arch)
	if want.OS == host.OS && want.Arch == host.Arch {
		return "", nil
	}
	return fmt.Sprintf("the Docker host is %s but the build asks for %s: it will run under emulation (slow) or fail; use a %s Docker host or change the platform", host, want, want), nil
}
