package dockerguard

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"

	"github.com/jetway-dev/jetway/internal/api"
)

// readAllKeep reads a small response body and puts it back for the client.
func readAllKeep(res *http.Response) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(res.Body, maxJSONBody))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(data))
	return data, err
}

// checkTag refuses a repository the project does not own as the target
// of a tag (a build's -t, a commit, an import): tagging another project's
// name, or a base image others build from, would replace it for them.
func (g *Guard) checkTag(ref, what string) error {
	if ref == "" {
		return nil
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return badRequest("%s: %q is not an image name: %v", what, ref, err)
	}
	if !g.ownRepository(ref) {
		return g.denied("", "%s %s is refused: a run tags only its project's repositories (%s)", what, ref, g.repoHint())
	}
	return nil
}

func (g *Guard) repoHint() string {
	hint := g.cfg.Project + " or " + g.cfg.Project + "/… on any registry"
	if len(g.repos) > 0 {
		hint += ", and " + strings.Join(g.repos, ", ")
	}
	return hint
}

// build checks a build's parameters; the body is the context, data only.
func (g *Guard) build(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	for _, t := range q["t"] {
		if err := g.checkTag(t, "the build tag"); err != nil {
			return err
		}
	}
	if mode := q.Get("networkmode"); mode != "" && mode != "default" && mode != "bridge" && mode != "none" {
		if mode == "host" && !(g.allows(api.DockerAllowBuildEntitlements) || g.allows(api.DockerAllowHostNamespaces)) {
			return g.denied(api.DockerAllowBuildEntitlements, "a build on the Docker host's network (the network.host entitlement) is refused")
		}
		if mode != "host" {
			if _, err := g.ownNetwork(req.Context(), strings.TrimPrefix(mode, "container:"), false); err != nil && !strings.HasPrefix(mode, "container:") {
				return err
			}
			if ref, ok := strings.CutPrefix(mode, "container:"); ok {
				if _, err := g.ownContainer(req.Context(), ref); err != nil {
					return err
				}
			}
		}
	}
	if q.Get("cgroupparent") != "" && !g.allows(api.DockerAllowHostNamespaces) {
		return g.denied(api.DockerAllowHostNamespaces, "a build's cgroup parent is refused")
	}
	if q.Get("isolation") != "" && q.Get("isolation") != "default" {
		return badRequest("isolation %q is not available", q.Get("isolation"))
	}
	if outputs := q.Get("outputs"); outputs != "" {
		if err := g.checkOutputs(outputs); err != nil {
			return err
		}
	}
	// The image is labelled as the project's over whatever the Dockerfile
	// or the phase says: a pool's GC reads the label.
	labels := map[string]string{}
	if l := q.Get("labels"); l != "" {
		if err := json.Unmarshal([]byte(l), &labels); err != nil {
			return badRequest("labels: %v", err)
		}
	}
	enc, err := json.Marshal(g.label(labels, false))
	if err != nil {
		return err
	}
	q.Set("labels", string(enc))
	return g.forwardStream(w, req, req.path, q)
}

// checkOutputs reads BuildKit exporter specs ([{"Type":"image","Attrs":
// {"name":"a,b"}}]) for the names they tag.
func (g *Guard) checkOutputs(outputs string) error {
	var specs []struct {
		Type  string
		Attrs map[string]string
	}
	if err := json.Unmarshal([]byte(outputs), &specs); err != nil {
		return badRequest("outputs: %v", err)
	}
	for _, s := range specs {
		for k, v := range s.Attrs {
			if strings.EqualFold(k, "name") {
				for _, n := range strings.Split(v, ",") {
					if err := g.checkTag(strings.TrimSpace(n), "the build output name"); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func (g *Guard) commit(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	full, err := g.ownContainer(req.Context(), q.Get("container"))
	if err != nil {
		return err
	}
	q.Set("container", full)
	if repo := q.Get("repo"); repo != "" {
		if err := g.checkTag(repo, "committing as"); err != nil {
			return err
		}
	}
	if strings.Contains(strings.ToLower(strings.Join(q["changes"], "\n")), "jetway.") {
		return g.denied("", "commit changes may not set jetway's labels")
	}
	var cfg container.Config
	if _, err := decodeBody(req.Request, &cfg); err != nil {
		return err
	}
	cfg.Labels = g.label(cfg.Labels, false)
	body, err := encode(&cfg)
	if err != nil {
		return err
	}
	return g.forward(w, req, req.path, q, body, nil)
}

// imageCreate pulls (any image may be pulled: it comes under its own
// name) or imports (into an own repository only).
func (g *Guard) imageCreate(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	if q.Get("fromSrc") != "" {
		if strings.Contains(strings.ToLower(strings.Join(q["changes"], "\n")), "jetway.") {
			return g.denied("", "import changes may not set jetway's labels")
		}
		if q.Get("repo") == "" {
			return g.forwardStream(w, req, req.path, q)
		}
		if err := g.checkTag(q.Get("repo"), "importing as"); err != nil {
			return err
		}
		return g.forwardStream(w, req, req.path, q)
	}
	return g.forward(w, req, req.path, q, nil, nil)
}

// imageRoute serves /images/{name}/… (names hold slashes).
func (g *Guard) imageRoute(req *request) (handler, error) {
	p, m := req.parts, req.Method
	last := p[len(p)-1]
	switch {
	case m == http.MethodDelete:
		return g.imageDelete, nil
	case len(p) >= 3 && (m == http.MethodGet || m == http.MethodHead) && oneOf(last, "json", "history", "get"):
		return g.plain, nil
	case len(p) >= 3 && m == http.MethodPost && last == "push":
		return g.plain, nil
	case len(p) >= 3 && m == http.MethodPost && last == "tag":
		return func(w http.ResponseWriter, req *request) error {
			q := req.URL.Query()
			target := q.Get("repo")
			if tag := q.Get("tag"); tag != "" {
				target += ":" + tag
			}
			if err := g.checkTag(target, "tagging as"); err != nil {
				return err
			}
			return g.plain(w, req)
		}, nil
	}
	return nil, g.denied("", "%s %s is not an endpoint a run may use", m, req.path)
}

// imageDelete removes a name of the project's, or an image all of whose
// names are the project's; never a base image or another project's.
func (g *Guard) imageDelete(w http.ResponseWriter, req *request) error {
	name := strings.Join(req.parts[1:], "/")
	var img struct {
		ID       string `json:"Id"`
		RepoTags []string
	}
	found, err := g.get(req.Context(), "/images/"+name+"/json", &img)
	if err != nil {
		return err
	}
	if !found {
		return &refusal{status: http.StatusNotFound, msg: "No such image: " + name}
	}
	q := req.URL.Query()
	allOwn := len(img.RepoTags) > 0
	for _, t := range img.RepoTags {
		allOwn = allOwn && g.ownRepository(t)
	}
	byName := !strings.HasPrefix(img.ID, "sha256:"+strings.TrimPrefix(name, "sha256:")) && !strings.Contains(name, "@")
	switch {
	case allOwn:
	case byName && g.ownRepository(name):
		// Removing one of several names only untags; with force dockerd
		// would remove the image under every name.
		q.Del("force")
	default:
		return g.denied("", "removing the image %s is refused: it has names outside the project's repositories (%s)", name, g.repoHint())
	}
	return g.forward(w, req, "/images/"+escapeImage(name), q, nil, nil)
}

// escapeImage keeps the slashes of an image name, which dockerd's router
// takes as part of it.
func escapeImage(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
