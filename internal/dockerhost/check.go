package dockerhost

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	r, _, err := check(ctx, h, connect, pings, DiskSample{})
	return r, err
}

// DiskSample says where the last disk-use scan of a host is kept and how
// long it may be reused. The daemon's scan (GET /system/df) walks every
// image and cache record: on a busy host it costs the daemon more CPU than
// the rest of a run's check, and its figures change slowly.
type DiskSample struct {
	// File keeps the last scan's figures (counts and sizes, nothing
	// secret); "" scans every time.
	File string
	// MaxAge is how old a kept scan may be before the check scans again.
	MaxAge time.Duration
}

// diskFigures are what File keeps.
type diskFigures struct {
	At          time.Time `json:"at"`
	Host        string    `json:"host"`
	Images      int       `json:"images"`
	ImagesBytes int64     `json:"images_bytes"`
	BuildCache  int64     `json:"build_cache_bytes"`
}

// CheckSampled is Check reusing a disk-use scan of the same host younger
// than s.MaxAge from s.File, and keeping its own scan there. age is how
// old the report's disk-use figures are: zero when this check scanned.
func CheckSampled(ctx context.Context, h *Host, connect time.Duration, pings int, s DiskSample) (r Report, age time.Duration, err error) {
	var f diskFigures
	r, f, err = check(ctx, h, connect, pings, s)
	if err == nil && !f.At.IsZero() {
		age = time.Since(f.At)
	}
	return r, age, err
}

func check(ctx context.Context, h *Host, connect time.Duration, pings int, sample DiskSample) (Report, diskFigures, error) {
	r := Report{Host: h.Spec().String(), Connect: connect}
	if pings < 1 {
		pings = 1
	}
	var latencies []time.Duration
	for range pings {
		p, err := h.Ping(ctx)
		if err != nil {
			return r, diskFigures{}, err
		}
		latencies = append(latencies, p.Latency)
	}
	slices.Sort(latencies)
	r.Latency = latencies[len(latencies)/2]

	c, err := h.NewClient()
	if err != nil {
		return r, diskFigures{}, err
	}
	defer c.Close()
	v, err := c.ServerVersion(ctx)
	if err != nil {
		return r, diskFigures{}, fmt.Errorf("reading the daemon's version: %w", h.explain(err))
	}
	r.ServerVersion, r.APIVersion, r.OS, r.Architecture, r.KernelVersion = v.Version, v.APIVersion, v.Os, v.Arch, v.KernelVersion
	info, err := c.Info(ctx)
	if err != nil {
		return r, diskFigures{}, fmt.Errorf("reading the daemon's info: %w", h.explain(err))
	}
	r.StorageDriver, r.CPUs, r.MemoryBytes = info.Driver, info.NCPU, info.MemTotal
	if f, ok := sample.load(r.Host); ok {
		r.Images, r.ImagesBytes, r.BuildCache = f.Images, f.ImagesBytes, f.BuildCache
		return r, f, nil
	}
	duCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	du, err := c.DiskUsage(duCtx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.ImageObject, types.BuildCacheObject}})
	if err != nil {
		if ctx.Err() != nil {
			return r, diskFigures{}, ctx.Err()
		}
		r.DiskUsageError = err.Error()
		return r, diskFigures{}, nil
	}
	r.Images = len(du.Images)
	r.ImagesBytes = du.LayersSize
	r.BuildCache = buildCacheSize(du.BuildCache)
	sample.store(diskFigures{At: time.Now(), Host: r.Host, Images: r.Images, ImagesBytes: r.ImagesBytes, BuildCache: r.BuildCache})
	return r, diskFigures{}, nil
}

func (s DiskSample) load(host string) (diskFigures, bool) {
	var f diskFigures
	if s.File == "" || s.MaxAge <= 0 {
		return f, false
	}
	data, err := os.ReadFile(s.File)
	if err != nil || json.Unmarshal(data, &f) != nil {
		return f, false
	}
	age := time.Since(f.At)
	return f, f.Host == host && age >= 0 && age < s.MaxAge
}

// store writes f whole or not at all (a rename), so that concurrent
// checks of one host read either scan.
func (s DiskSample) store(f diskFigures) {
	if s.File == "" {
		return
	}
	data, _ := json.Marshal(f)
	tmp, err := os.CreateTemp(filepath.Dir(s.File), ".df-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.File)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
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
