package dockerguard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/jetway-dev/jetway/internal/api"
)

// defaultCapabilities are the capabilities Docker gives a container;
// adding one of them changes nothing.
var defaultCapabilities = map[string]bool{
	"CHOWN": true, "DAC_OVERRIDE": true, "FSETID": true, "FOWNER": true, "MKNOD": true, "NET_RAW": true,
	"SETGID": true, "SETUID": true, "SETFCAP": true, "SETPCAP": true, "NET_BIND_SERVICE": true,
	"SYS_CHROOT": true, "KILL": true, "AUDIT_WRITE": true,
}

// volumeName is what dockerd accepts as a volume's name; a bind's source
// is anything else that it reads as a path.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (g *Guard) allows(a string) bool { return g.cfg.Policy.Allows(a) }

// label sets the run's labels, replacing any jetway labels the run wrote
// itself (a run must not claim another project's ownership).
func (g *Guard) label(labels map[string]string, withRun bool) map[string]string {
	if labels == nil {
		labels = map[string]string{}
	}
	for k := range labels {
		if strings.HasPrefix(k, "dev.jetway.") {
			delete(labels, k)
		}
	}
	labels[LabelProject] = g.cfg.Project
	if withRun {
		labels[LabelRun] = g.cfg.RunID
	}
	return labels
}

func (g *Guard) containerCreate(w http.ResponseWriter, req *request) error {
	var c container.CreateRequest
	if _, err := decodeBody(req.Request, &c); err != nil {
		return err
	}
	if c.Config == nil {
		c.Config = &container.Config{}
	}
	if c.HostConfig == nil {
		c.HostConfig = &container.HostConfig{}
	}
	if err := g.checkHostConfig(req.Context(), c.HostConfig); err != nil {
		return err
	}
	if err := g.checkNetworking(req.Context(), c.HostConfig, c.NetworkingConfig); err != nil {
		return err
	}
	c.Config.Labels = g.label(c.Config.Labels, true)
	body, err := encode(&c)
	if err != nil {
		return err
	}
	record := func(res *http.Response) error {
		if res.StatusCode == http.StatusConflict {
			return hideConflict(res)
		}
		return onCreated(res, g.recordContainer)
	}
	return g.forward(w, req, req.path, req.URL.Query(), body, record)
}

// onCreated calls record with the ID of what a 201 answer created.
func onCreated(res *http.Response, record func(id string)) error {
	if res.StatusCode != http.StatusCreated {
		return nil
	}
	data, err := readAllKeep(res)
	if err != nil {
		return err
	}
	var created struct {
		ID string `json:"Id"`
	}
	if json.Unmarshal(data, &created) == nil && created.ID != "" {
		record(created.ID)
	}
	return nil
}

// hideConflict rewrites dockerd's "name already in use" answer, which
// quotes the full ID of the container holding the name (another
// project's, perhaps).
func hideConflict(res *http.Response) error {
	_, _ = readAllKeep(res)
	return replaceJSON(res, map[string]string{"message": "Conflict. The container name is already in use by another container; choose another name"})
}

// checkHostConfig applies the policy to a container's host settings. It
// also creates, labelled as the project's, the named volumes the container
// would have dockerd create.
func (g *Guard) checkHostConfig(ctx context.Context, hc *container.HostConfig) error {
	if hc.Privileged && !g.allows(api.DockerAllowPrivileged) {
		return g.denied(api.DockerAllowPrivileged, "privileged containers are refused")
	}
	if !g.allows(api.DockerAllowHostNamespaces) {
		for kind, mode := range map[string]string{"network": string(hc.NetworkMode), "PID": string(hc.PidMode), "IPC": string(hc.IpcMode),
			"UTS": string(hc.UTSMode), "user": string(hc.UsernsMode), "cgroup": string(hc.CgroupnsMode)} {
			if mode == "host" {
				return g.denied(api.DockerAllowHostNamespaces, "the Docker host's %s namespace is refused", kind)
			}
		}
	}
	// Containers named by reference are sent on by the ID the guard
	// checked: a name or prefix re-pointed meanwhile changes nothing.
	for _, mode := range []*string{(*string)(&hc.PidMode), (*string)(&hc.IpcMode), (*string)(&hc.Cgroup), (*string)(&hc.NetworkMode)} {
		if ref, ok := strings.CutPrefix(*mode, "container:"); ok {
			id, err := g.ownContainer(ctx, ref)
			if err != nil {
				return err
			}
			*mode = "container:" + id
		}
	}
	if hc.CgroupnsMode == "" {
		// On cgroup v1 dockerd's default is the host's cgroup namespace.
		hc.CgroupnsMode = "private"
	}
	if !g.allows(api.DockerAllowHostNamespaces) && (len(hc.PortBindings) > 0 || hc.PublishAllPorts) {
		return g.denied(api.DockerAllowHostNamespaces, "publishing ports on the Docker host is refused: it listens on the host's addresses, which other projects share")
	}
	switch hc.LogConfig.Type {
	case "", "json-file", "local", "none":
	default:
		if !g.allows(api.DockerAllowHostMounts) {
			return g.denied(api.DockerAllowHostMounts, "the log driver %q is refused: it writes outside the container (host sockets, files, the network)", hc.LogConfig.Type)
		}
	}
	if !g.allows(api.DockerAllowUnconfined) && (hc.OomScoreAdj < 0 || hc.OomKillDisable != nil && *hc.OomKillDisable) {
		return g.denied(api.DockerAllowUnconfined, "shielding a container from the host's OOM killer is refused")
	}
	if hc.Cgroup != "" && !hc.Cgroup.IsContainer() {
		return badRequest("Cgroup %q is not known", hc.Cgroup)
	}
	if ipc := string(hc.IpcMode); ipc != "" && ipc != "private" && ipc != "shareable" && ipc != "none" && ipc != "host" && !strings.HasPrefix(ipc, "container:") {
		return badRequest("IpcMode %q is not known", ipc)
	}
	if err := g.checkMounts(ctx, hc); err != nil {
		return err
	}
	for i, ref := range hc.VolumesFrom {
		name, mode, hasMode := strings.Cut(ref, ":")
		id, err := g.ownContainer(ctx, name)
		if err != nil {
			return err
		}
		hc.VolumesFrom[i] = id
		if hasMode {
			hc.VolumesFrom[i] += ":" + mode
		}
	}
	if err := g.checkLinks(ctx, hc.Links); err != nil {
		return err
	}
	if !g.allows(api.DockerAllowCapabilities) {
		for _, c := range hc.CapAdd {
			name := strings.TrimPrefix(strings.ToUpper(c), "CAP_")
			if !defaultCapabilities[name] {
				return g.denied(api.DockerAllowCapabilities, "adding the capability %s is refused", c)
			}
		}
	}
	if !g.allows(api.DockerAllowUnconfined) {
		for _, opt := range hc.SecurityOpt {
			if opt != "no-new-privileges" && opt != "no-new-privileges:true" && opt != "no-new-privileges=true" {
				return g.denied(api.DockerAllowUnconfined, "the security option %q is refused", opt)
			}
		}
		if hc.MaskedPaths != nil || hc.ReadonlyPaths != nil {
			return g.denied(api.DockerAllowUnconfined, "changing the masked or read-only /proc paths is refused")
		}
		if hc.Runtime != "" && hc.Runtime != "runc" && hc.Runtime != "io.containerd.runc.v2" {
			return g.denied(api.DockerAllowUnconfined, "the runtime %q is refused", hc.Runtime)
		}
	}
	return g.checkResources(&hc.Resources)
}

// checkResources applies the policy to cgroup settings (at create and at
// update).
func (g *Guard) checkResources(r *container.Resources) error {
	if !g.allows(api.DockerAllowDevices) && (len(r.Devices) > 0 || len(r.DeviceCgroupRules) > 0 || len(r.DeviceRequests) > 0) {
		return g.denied(api.DockerAllowDevices, "devices are refused")
	}
	if r.CgroupParent != "" && !g.allows(api.DockerAllowHostNamespaces) {
		return g.denied(api.DockerAllowHostNamespaces, "a cgroup parent is refused: it places the container among the Docker host's own cgroups")
	}
	return nil
}

func (g *Guard) checkMounts(ctx context.Context, hc *container.HostConfig) error {
	hostMounts := g.allows(api.DockerAllowHostMounts)
	if hc.VolumeDriver != "" && hc.VolumeDriver != "local" && !hostMounts {
		return g.denied(api.DockerAllowHostMounts, "the volume driver %q is refused", hc.VolumeDriver)
	}
	for _, b := range hc.Binds {
		src, _, hasDest := strings.Cut(b, ":")
		if !hasDest {
			continue // an anonymous volume at that path
		}
		if !volumeName.MatchString(src) {
			if !hostMounts {
				return g.denied(api.DockerAllowHostMounts, "bind mounts of the Docker host's paths are refused (%s); use a named volume", src)
			}
			continue
		}
		if err := g.claimVolume(ctx, src); err != nil {
			return err
		}
	}
	for _, m := range hc.Mounts {
		switch m.Type {
		case mount.TypeVolume:
			if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil && !hostMounts {
				return g.denied(api.DockerAllowHostMounts, "volume driver options in a mount are refused: the local driver mounts host paths with them")
			}
			if m.VolumeOptions != nil && m.VolumeOptions.Labels != nil {
				m.VolumeOptions.Labels = nil // the guard labels the volume
			}
			if m.Source != "" {
				if err := g.claimVolume(ctx, m.Source); err != nil {
					return err
				}
			}
		case mount.TypeTmpfs:
		case mount.TypeBind:
			if !hostMounts {
				return g.denied(api.DockerAllowHostMounts, "bind mounts of the Docker host's paths are refused (%s); use a named volume", m.Source)
			}
		default:
			if !hostMounts {
				return g.denied(api.DockerAllowHostMounts, "mounts of type %q are refused", m.Type)
			}
		}
	}
	return nil
}

// claimVolume makes sure a named volume a container mounts is the
// project's: an existing one must carry its label, a missing one is
// created with it now (dockerd would create it unlabelled).
func (g *Guard) claimVolume(ctx context.Context, name string) error {
	exists, own, err := g.ownVolume(ctx, name)
	if err != nil {
		return err
	}
	if exists {
		if !own {
			return &refusal{status: http.StatusNotFound, msg: fmt.Sprintf("get %s: no such volume", name)}
		}
		return nil
	}
	opts := volume.CreateOptions{Name: name, Labels: g.label(nil, false)}
	if _, err := g.call(ctx, http.MethodPost, "/volumes/create", nil, opts, nil); err != nil {
		return err
	}
	// Created by another run in between: create returned that one.
	if _, own, err = g.ownVolume(ctx, name); err != nil || !own {
		if err == nil {
			err = &refusal{status: http.StatusNotFound, msg: fmt.Sprintf("get %s: no such volume", name)}
		}
		return err
	}
	return nil
}

// checkLinks checks the containers links name and rewrites each as the
// checked ID, keeping the alias (the name, when none was given).
func (g *Guard) checkLinks(ctx context.Context, links []string) error {
	for i, l := range links {
		name, alias, hasAlias := strings.Cut(l, ":")
		name = strings.TrimPrefix(name, "/")
		id, err := g.ownContainer(ctx, name)
		if err != nil {
			return err
		}
		if !hasAlias {
			alias = name
		}
		links[i] = id + ":" + alias
	}
	return nil
}

// checkNetworking allows the default networks, the project's own networks
// and the network of the project's own containers.
func (g *Guard) checkNetworking(ctx context.Context, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	mode := string(hc.NetworkMode)
	switch {
	case mode == "" || predefinedNetworks[mode] || mode == "host":
	case strings.HasPrefix(mode, "container:"):
		if _, err := g.ownContainer(ctx, strings.TrimPrefix(mode, "container:")); err != nil {
			return err
		}
	default:
		if _, err := g.ownNetwork(ctx, mode, false); err != nil {
			return err
		}
	}
	if nc == nil {
		return nil
	}
	for name, ep := range nc.EndpointsConfig {
		if name == "host" && !g.allows(api.DockerAllowHostNamespaces) {
			return g.denied(api.DockerAllowHostNamespaces, "the Docker host's network namespace is refused")
		}
		id := name
		if name != "host" {
			var err error
			if id, err = g.ownNetwork(ctx, name, true); err != nil {
				return err
			}
		}
		if ep != nil {
			// dockerd joins the network an endpoint's NetworkID names, not
			// the one its key does.
			if ep.NetworkID != "" && ep.NetworkID != id {
				return g.denied("", "an endpoint's NetworkID must be the network it is listed under (%s)", name)
			}
			if err := g.checkLinks(ctx, ep.Links); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *Guard) networkCreate(w http.ResponseWriter, req *request) error {
	var n network.CreateRequest
	if _, err := decodeBody(req.Request, &n); err != nil {
		return err
	}
	if !g.allows(api.DockerAllowHostNamespaces) {
		if n.Driver != "" && n.Driver != "bridge" {
			return g.denied(api.DockerAllowHostNamespaces, "the network driver %q is refused: only bridge networks", n.Driver)
		}
		if len(n.Options) > 0 {
			return g.denied(api.DockerAllowHostNamespaces, "network driver options are refused: they can take over the Docker host's interfaces")
		}
		if n.ConfigFrom != nil || n.ConfigOnly || n.Ingress || (n.Scope != "" && n.Scope != "local") {
			return g.denied(api.DockerAllowHostNamespaces, "config-only, ingress and swarm networks are refused")
		}
		if n.IPAM != nil && (len(n.IPAM.Config) > 0 || len(n.IPAM.Options) > 0 || n.IPAM.Driver != "" && n.IPAM.Driver != "default") {
			return g.denied(api.DockerAllowHostNamespaces, "choosing a network's subnets is refused: the Docker host routes them (169.254.169.254 among them)")
		}
	}
	n.Labels = g.label(n.Labels, true)
	body, err := encode(&n)
	if err != nil {
		return err
	}
	return g.forward(w, req, req.path, req.URL.Query(), body, nil)
}

func (g *Guard) networkObject(w http.ResponseWriter, req *request) error {
	name := req.parts[1]
	if req.Method != http.MethodDelete && predefinedNetworks[name] {
		// BuildKit looks at the default bridge; the containers on it are
		// every project's, so they are left out.
		return g.forward(w, req, "/networks/"+name, req.URL.Query(), nil, withoutContainers)
	}
	id, err := g.ownNetwork(req.Context(), name, false)
	if err != nil {
		return err
	}
	return g.forward(w, req, "/networks/"+id, req.URL.Query(), nil, nil)
}

// withoutContainers drops the Containers of a network's inspection.
func withoutContainers(res *http.Response) error {
	if res.StatusCode != http.StatusOK {
		return nil
	}
	data, err := readAllKeep(res)
	if err != nil {
		return err
	}
	var n map[string]json.RawMessage
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("reading a network's inspection: %w", err)
	}
	delete(n, "Containers")
	return replaceJSON(res, n)
}

func (g *Guard) volumeCreate(w http.ResponseWriter, req *request) error {
	var v volume.CreateOptions
	if _, err := decodeBody(req.Request, &v); err != nil {
		return err
	}
	if !g.allows(api.DockerAllowHostMounts) {
		if v.Driver != "" && v.Driver != "local" {
			return g.denied(api.DockerAllowHostMounts, "the volume driver %q is refused", v.Driver)
		}
		if len(v.DriverOpts) > 0 {
			return g.denied(api.DockerAllowHostMounts, "volume driver options are refused: the local driver mounts host paths and network shares with them")
		}
	}
	if v.ClusterVolumeSpec != nil {
		return g.denied("", "cluster volumes are refused")
	}
	if v.Name != "" {
		exists, own, err := g.ownVolume(req.Context(), v.Name)
		if err != nil {
			return err
		}
		if exists && !own {
			return g.denied("", "a volume named %s exists and belongs to another project; choose another name", v.Name)
		}
	}
	// A named volume is the project's and outlives the run; one without
	// a name is the run's and is removed with it.
	v.Labels = g.label(v.Labels, v.Name == "")
	body, err := encode(&v)
	if err != nil {
		return err
	}
	return g.forward(w, req, req.path, req.URL.Query(), body, nil)
}

func (g *Guard) volumeObject(w http.ResponseWriter, req *request) error {
	name := req.parts[1]
	exists, own, err := g.ownVolume(req.Context(), name)
	if err != nil {
		return err
	}
	if !exists || !own {
		return &refusal{status: http.StatusNotFound, msg: fmt.Sprintf("get %s: no such volume", name)}
	}
	return g.forward(w, req, req.path, req.URL.Query(), nil, nil)
}

func (g *Guard) execCreate(w http.ResponseWriter, req *request, fullID string) error {
	var e container.ExecOptions
	if _, err := decodeBody(req.Request, &e); err != nil {
		return err
	}
	if e.Privileged && !g.allows(api.DockerAllowPrivileged) {
		return g.denied(api.DockerAllowPrivileged, "privileged execs are refused")
	}
	body, err := encode(&e)
	if err != nil {
		return err
	}
	record := func(res *http.Response) error {
		return onCreated(res, func(id string) {
			g.mu.Lock()
			g.execs[id] = true
			g.mu.Unlock()
		})
	}
	return g.forward(w, req, containerPath(req, fullID), req.URL.Query(), body, record)
}

// ownExec tells whether this run created the exec. Exec IDs are full IDs
// (dockerd resolves no prefix or name for them).
func (g *Guard) ownExec(id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.execs[id] {
		return &refusal{status: http.StatusNotFound, msg: "No such exec instance: " + id}
	}
	return nil
}

func (g *Guard) execStart(w http.ResponseWriter, req *request) error {
	if err := g.ownExec(req.parts[1]); err != nil {
		return err
	}
	var s container.ExecStartOptions
	empty, err := decodeBody(req.Request, &s)
	if err != nil {
		return err
	}
	var body []byte
	if !empty {
		if body, err = encode(&s); err != nil {
			return err
		}
	}
	return g.forward(w, req, req.path, req.URL.Query(), body, nil)
}

func (g *Guard) execOther(w http.ResponseWriter, req *request) error {
	if err := g.ownExec(req.parts[1]); err != nil {
		return err
	}
	return g.forward(w, req, req.path, req.URL.Query(), nil, nil)
}
