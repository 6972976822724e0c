package dockerguard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/filters"
)

func parseFilters(s string) (filters.Args, error) {
	if s == "" {
		return filters.NewArgs(), nil
	}
	f, err := filters.FromJSON(s)
	if err != nil {
		return f, badRequest("filters: %v", err)
	}
	return f, nil
}

func filtersJSON(f filters.Args) (string, error) {
	s, err := filters.ToJSON(f)
	if err != nil {
		return "", fmt.Errorf("encoding filters: %w", err)
	}
	return s, nil
}

// owner is the part of an object's inspection the guard reads.
type owner struct {
	ID     string `json:"Id"`
	Name   string
	Labels map[string]string
}

// ownContainer resolves ref (ID, prefix or name) as dockerd does and
// returns the container's full ID if this run created it; any other is
// "not found".
func (g *Guard) ownContainer(ctx context.Context, ref string) (string, error) {
	if ref == "" || strings.ContainsAny(ref, "/?#") {
		return "", notFound("container", ref)
	}
	// A full ID the run created names that container; no daemon
	// resolves it otherwise. Names and prefixes are asked for.
	if g.created(ref) {
		return ref, nil
	}
	var o owner
	found, err := g.get(ctx, "/containers/"+url.PathEscape(ref)+"/json", &o)
	if err != nil {
		return "", err
	}
	if !found || o.ID == "" || !g.created(o.ID) {
		return "", notFound("container", ref)
	}
	return o.ID, nil
}

func (g *Guard) created(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.containers[id]
}

func (g *Guard) recordContainer(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.containers[id] = true
}

func (g *Guard) ownContainers() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, 0, len(g.containers))
	for id := range g.containers {
		ids = append(ids, id)
	}
	return ids
}

// predefinedNetworks exist on every daemon and belong to nobody.
var predefinedNetworks = map[string]bool{"bridge": true, "none": true, "default": true}

// ownNetwork returns the network's ID if it is the project's. With
// predefined, "bridge" and "none" are accepted by name (connecting an own
// container to the default bridge is harmless).
func (g *Guard) ownNetwork(ctx context.Context, ref string, predefined bool) (string, error) {
	if predefined && predefinedNetworks[ref] {
		return ref, nil
	}
	if ref == "" || strings.ContainsAny(ref, "/?#") {
		return "", notFound("network", ref)
	}
	var o owner
	found, err := g.get(ctx, "/networks/"+url.PathEscape(ref), &o)
	if err != nil {
		return "", err
	}
	if !found || o.Labels[LabelProject] != g.cfg.Project || o.ID == "" {
		return "", &refusal{status: http.StatusNotFound, msg: fmt.Sprintf("network %s not found", ref)}
	}
	return o.ID, nil
}

// ownVolume tells whether the named volume exists and is the project's.
func (g *Guard) ownVolume(ctx context.Context, name string) (exists, own bool, err error) {
	if name == "" || strings.ContainsAny(name, "/?#") {
		return false, false, nil
	}
	var o owner
	found, err := g.get(ctx, "/volumes/"+url.PathEscape(name), &o)
	if err != nil || !found {
		return false, false, err
	}
	return true, o.Labels[LabelProject] == g.cfg.Project, nil
}

// ownRepository tells whether the image repository of ref (a name with
// or without tag or digest) is the project's: named PROJECT or PROJECT/…
// on any registry, or one of the configured repositories.
func (g *Guard) ownRepository(ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	name := named.Name()
	for _, r := range g.repos {
		if name == r {
			return true
		}
	}
	p := reference.Path(named)
	if reference.Domain(named) == "docker.io" {
		p = strings.TrimPrefix(p, "library/")
	}
	return p == g.cfg.Project || strings.HasPrefix(p, g.cfg.Project+"/")
}

func normalizeRepo(s string) (string, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", err
	}
	return named.Name(), nil
}

// Removed counts what Cleanup removed.
type Removed struct {
	Containers, Networks, Volumes int
}

// Cleanup removes what the run created on the Docker host and left:
// containers (with their anonymous volumes), networks, and volumes made
// without a name. Named volumes stay; they are the project's cache.
func (g *Guard) Cleanup(ctx context.Context) (Removed, error) {
	var done Removed
	var errs []error
	runFilter := func() url.Values {
		f := filters.NewArgs(filters.Arg("label", LabelRun+"="+g.cfg.RunID))
		s, _ := filtersJSON(f)
		return url.Values{"filters": {s}}
	}
	// The containers this run created; a label could be inherited from an
	// image by containers of other projects' builds.
	for _, id := range g.ownContainers() {
		found, err := g.call(ctx, http.MethodDelete, "/containers/"+id, url.Values{"force": {"1"}, "v": {"1"}}, nil, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if found {
			done.Containers++
		}
	}
	var networks []owner
	if _, err := g.call(ctx, http.MethodGet, "/networks", runFilter(), nil, &networks); err != nil {
		errs = append(errs, err)
	}
	for _, n := range networks {
		if _, err := g.call(ctx, http.MethodDelete, "/networks/"+n.ID, nil, nil, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		done.Networks++
	}
	var volumes struct{ Volumes []owner }
	if _, err := g.call(ctx, http.MethodGet, "/volumes", runFilter(), nil, &volumes); err != nil {
		errs = append(errs, err)
	}
	for _, v := range volumes.Volumes {
		if _, err := g.call(ctx, http.MethodDelete, "/volumes/"+url.PathEscape(v.Name), nil, nil, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		done.Volumes++
	}
	return done, errors.Join(errs...)
}
