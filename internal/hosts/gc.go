package hosts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/jetway-dev/jetway/internal/api"
)

// LabelProject marks the images jetway's runs build (the runner sets it),
// and so the only images GC removes. The Docker guard labels the
// containers, networks and volumes of runs with the same key.
const LabelProject = "dev.jetway.project"

// Engine is what GC needs of a Docker host; *client.Client has it.
type Engine interface {
	DiskUsage(ctx context.Context, options types.DiskUsageOptions) (types.DiskUsage, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	BuildCachePrune(ctx context.Context, opts build.CachePruneOptions) (*build.CachePruneReport, error)
}

// GCOptions say why and how a collection runs.
type GCOptions struct {
	// Reason is logged and reported: "before the build", "after the run",
	// "by hand".
	Reason string
	// Always collects to the policy even when the host is within it (by
	// hand, and after a run: the images beyond the newest of each project
	// go then); otherwise Collect acts only when the host is past its cap
	// or under its free disk.
	Always bool
	DryRun bool
	// Free measures the free and total disk of the host's data root; nil
	// or an error when it cannot be known (MinFree is then not enforced).
	Free func(context.Context) (free, total int64, err error)
}

// usage is what GC counts of a host: only what it may remove.
type usage struct {
	images     []*image.Summary // jetway's
	imageBytes int64            // unique to jetway's images
	cacheBytes int64
}

func (u usage) total() int64 { return u.imageBytes + u.cacheBytes }

func measure(ctx context.Context, e Engine) (usage, error) {
	du, err := e.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.ImageObject, types.BuildCacheObject}})
	if err != nil {
		return usage{}, fmt.Errorf("reading the host's disk usage: %w", err)
	}
	var u usage
	for _, img := range du.Images {
		if img.Labels[LabelProject] == "" {
			continue
		}
		u.images = append(u.images, img)
		if unique := img.Size - max(img.SharedSize, 0); unique > 0 {
			u.imageBytes += unique
		}
	}
	for _, c := range du.BuildCache {
		if !c.Shared {
			u.cacheBytes += c.Size
		}
	}
	return u, nil
}

// needFree is the free disk the policy asks for, given the disk's size.
func needFree(p api.GCPolicy, total int64) int64 {
	need := p.MinFree
	if p.MinFreePercent > 0 && total > 0 {
		need = max(need, int64(p.MinFreePercent/100*float64(total)))
	}
	return need
}

// Collect keeps a Docker host within policy. It removes, in this order:
//   - the images jetway's runs built (labelled dev.jetway.project) beyond
//     the newest KeepImages of each project, oldest first, except those
//     any container uses (running or not);
//   - build cache, least recently used first, down to what the cap leaves
//     beside the images (all of it that is unused when the disk is under
//     its minimum free); BuildKit never prunes what a running build uses.
//
// It never removes an image jetway did not build (base images, images of
// other users), nor anything a container uses.
func Collect(ctx context.Context, e Engine, policy api.GCPolicy, opts GCOptions) (api.GCReport, error) {
	start := time.Now()
	report := api.GCReport{At: start.UTC(), Reason: opts.Reason, DryRun: opts.DryRun}
	before, err := measure(ctx, e)
	if err != nil {
		report.Error = err.Error()
		return report, err
	}
	report.UsedBefore, report.UsedAfter = before.total(), before.total()
	var free, total int64
	freeKnown := false
	if opts.Free != nil {
		if f, t, err := opts.Free(ctx); err == nil {
			free, total, freeKnown = f, t, true
		}
	}
	over := policy.MaxUsed > 0 && before.total() > policy.MaxUsed
	low := freeKnown && free < needFree(policy, total)
	if !over && !low && !opts.Always {
		report.Duration = time.Since(start)
		return report, nil
	}

	var errs []error
	inUse, err := imagesInUse(ctx, e)
	if err != nil {
		errs = append(errs, err)
	}
	victims := oldImages(before.images, policy.Keep(), inUse)
	for _, img := range victims {
		freed := img.Size - max(img.SharedSize, 0)
		name := imageName(img)
		if !opts.DryRun {
			if err := removeImage(ctx, e, img); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", name, err))
				continue
			}
		}
		report.Images = append(report.Images, name)
		report.ImagesFreed += max(freed, 0)
	}

	imagesAfter := before.imageBytes - report.ImagesFreed
	keep := int64(-1) // no build cache pruning
	switch {
	case low:
		keep = 0
	case policy.MaxUsed > 0:
		keep = max(policy.MaxUsed-imagesAfter, 0)
	}
	if keep >= 0 && before.cacheBytes > keep {
		if opts.DryRun {
			report.BuildCacheFreed = before.cacheBytes - keep
		} else {
			prune := build.CachePruneOptions{KeepStorage: keep}
			if keep == 0 {
				prune = build.CachePruneOptions{All: true}
			}
			res, err := e.BuildCachePrune(ctx, prune)
			if err != nil {
				errs = append(errs, fmt.Errorf("pruning the build cache: %w", err))
			} else {
				report.BuildCacheFreed = int64(res.SpaceReclaimed)
			}
		}
	}
	if opts.DryRun {
		report.UsedAfter = before.total() - report.ImagesFreed - report.BuildCacheFreed
	} else if after, err := measure(ctx, e); err == nil {
		report.UsedAfter = after.total()
	} else {
		errs = append(errs, err)
	}
	report.Duration = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		report.Error = err.Error()
		return report, err
	}
	return report, nil
}

func imagesInUse(ctx context.Context, e Engine) (map[string]bool, error) {
	list, err := e.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range list {
		used[c.ImageID] = true
	}
	return used, nil
}

// oldImages are each project's images beyond the newest keep, oldest
// first, without those in use. With inUse nil (unknown) none is old.
func oldImages(images []*image.Summary, keep int, inUse map[string]bool) []*image.Summary {
	if inUse == nil {
		return nil
	}
	byProject := map[string][]*image.Summary{}
	for _, img := range images {
		p := img.Labels[LabelProject]
		byProject[p] = append(byProject[p], img)
	}
	var old []*image.Summary
	for _, list := range byProject {
		slices.SortFunc(list, func(a, b *image.Summary) int {
			return cmp.Or(cmp.Compare(b.Created, a.Created), cmp.Compare(a.ID, b.ID))
		})
		for _, img := range list[min(keep, len(list)):] {
			if !inUse[img.ID] {
				old = append(old, img)
			}
		}
	}
	slices.SortFunc(old, func(a, b *image.Summary) int { return cmp.Compare(a.Created, b.Created) })
	return old
}

func imageName(img *image.Summary) string {
	if tags := tagsOf(img); len(tags) > 0 {
		return tags[0]
	}
	return img.ID
}

// tagsOf are an image's names; a dangling image is listed as
// "<none>:<none>", which names nothing.
func tagsOf(img *image.Summary) []string {
	var tags []string
	for _, t := range img.RepoTags {
		if t != "<none>:<none>" {
			tags = append(tags, t)
		}
	}
	return tags
}

// removeImage removes every name of img, which removes it, and its
// untagged parents (a classic build's intermediate images). Without force:
// dockerd refuses an image a container uses.
func removeImage(ctx context.Context, e Engine, img *image.Summary) error {
	tags := tagsOf(img)
	if len(tags) == 0 {
		_, err := e.ImageRemove(ctx, img.ID, image.RemoveOptions{PruneChildren: true})
		return err
	}
	for _, tag := range tags {
		if _, err := e.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}); err != nil {
			return err
		}
	}
	return nil
}
