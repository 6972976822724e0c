package dockerhost

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
)

// Report is what Check learns about a Docker host.
type Report struct {
	Host          string `json:"host"`
	ServerVersion string `json:"server_version"`
	APIVersion    string `json:"api_version"`
	OS            string `json:"os"`
	Architecture  string `json:"architecture"`
	KernelVersion string `json:"kernel_version"`
	StorageDriver string `json:"storage_driver"`
	CPUs          int    `json:"cpus"`
	MemoryBytes   int64  `json:"memory_bytes"`
	Images        int    `json:"images"`
	ImagesBytes   int64  `json:"images_bytes"`
	BuildCache    int64  `json:"build_cache_bytes"`
	// DiskUsageError says why images and build cache are unknown: the
	// daemon runs one disk-usage scan at a time, and it can be slow on a
	// big host, so it is best effort.
	DiskUsageError string        `json:"disk_usage_error,omitempty"`
	Connect        time.Duration `json:"connect_ns"`
	Latency        time.Duration `json:"ping_latency_ns"` // median of several /_ping round trips
}

// Check gathers a Report. connect is how long opening the host took.
func Check(ctx context.Context, h *Host, connect time.Duration, pings int) (Report, error) {
	r := Report{Host: h.Spec().String(), Connect: connect}
	if pings < 1 {
		pings = 1
	}
	var latencies []time.Duration
	for range pings {
		p, err := h.Ping(ctx)
		if err != nil {
			return r, err
		}
		latencies = append(latencies, p.Latency)
	}
	slices.Sort(latencies)
	r.Latency = latencies[len(latencies)/2]

	c, err := h.NewClient()
	if err != nil {
		return r, err
	}
	defer c.Close()
	v, err := c.ServerVersion(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the daemon's version: %w", h.explain(err))
	}
	r.ServerVersion, r.APIVersion, r.OS, r.Architecture, r.KernelVersion = v.Version, v.APIVersion, v.Os, v.Arch, v.KernelVersion
	info, err := c.Info(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the daemon's info: %w", h.explain(err))
	}
	r.StorageDriver, r.CPUs, r.MemoryBytes = info.Driver, info.NCPU, info.MemTotal
	duCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	du, err := c.DiskUsage(duCtx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.ImageObject, types.BuildCacheObject}})
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		r.DiskUsageError = err.Error()
		return r, nil
	}
	r.Images = len(du.Images)
	r.ImagesBytes = du.LayersSize
	r.BuildCache = buildCacheSize(du.BuildCache)
	return r, nil
}

func buildCacheSize(records []*build.CacheRecord) int64 {
	var n int64
	for _, rec := range records {
		if rec != nil && !rec.Shared {
			n += rec.Size
		}
	}
	return n
}
