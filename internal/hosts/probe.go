package hosts

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/dockerhost"
)

// Probe checks a host as the pool sees it: reachable (ping, version), the
// images and build cache it holds, and, for ssh:// hosts, the free disk of
// its data root. A failure is a host down, with the reason.
func Probe(ctx context.Context, h *dockerhost.Host) api.HostState {
	st := api.HostState{CheckedAt: time.Now().UTC()}
	rep, err := dockerhost.Check(ctx, h, 0, 1)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.Up = true
	st.ImagesBytes, st.BuildCacheBytes = rep.ImagesBytes, rep.BuildCache
	if free, total, err := DiskFree(ctx, h); err == nil {
		st.FreeBytes, st.DiskBytes = free, total
	}
	return st
}

// DiskFree measures the free and total bytes of the filesystem holding
// the daemon's data root. The Engine API does not say; over ssh, df does.
func DiskFree(ctx context.Context, h *dockerhost.Host) (free, total int64, err error) {
	// A login shell that dawdles (rc files) must not hold a check or a
	// run; the disk is then unknown.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := h.NewClient()
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the daemon's data root: %w", err)
	}
	root := info.DockerRootDir
	if root == "" || strings.ContainsAny(root, "'\n") {
		return 0, 0, fmt.Errorf("the daemon's data root %q cannot be measured", root)
	}
	out, err := h.Exec(ctx, "df -Pk -- '"+root+"'")
	if err != nil {
		return 0, 0, err
	}
	return parseDF(out)
}

// parseDF reads POSIX `df -Pk` output: a header, then "fs 1024-blocks
// used available capacity mount".
func parseDF(out []byte) (free, total int64, err error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		return 0, 0, fmt.Errorf("df printed %q", out)
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 6 {
		return 0, 0, fmt.Errorf("df printed %q", out)
	}
	blocks, err1 := strconv.ParseInt(f[1], 10, 64)
	avail, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("df printed %q", out)
	}
	return avail * 1024, blocks * 1024, nil
}
