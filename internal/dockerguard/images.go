package dockerguard

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"

	"github.com/jetway-dev/jetway/internal/api"
)

// replaceJSON makes v, encoded, the response's body.
func replaceJSON(res *http.Response, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	res.Body = io.NopCloser(bytes.NewReader(out))
	res.ContentLength = int64(len(out))
	res.Header.Set("Content-Length", strconv.Itoa(len(out)))
	res.Header.Set("Content-Type", "application/json")
	return nil
}

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
	// A build's network and extra hosts are not in its cache key: a RUN
	// line fetched through the run's own network (or a forged name) would
	// land in the cache that other projects' identical lines take.
	switch mode := q.Get("networkmode"); mode {
	case "", "default", "bridge", "none":
	case "host":
		if !(g.allows(api.DockerAllowBuildEntitlements) || g.allows(api.DockerAllowHostNamespaces)) {
			return g.denied(api.DockerAllowBuildEntitlements, "a build on the Docker host's network (the network.host entitlement) is refused")
		}
	default:
		return g.denied("", "a build on network %q is refused: the network is not in the build cache's key, so other projects' builds would take its layers; build on the default network", mode)
	}
	if eh := q.Get("extrahosts"); eh != "" && eh != "[]" {
		return g.denied("", "a build's --add-host is refused: it is not in the build cache's key, so other projects' builds would take its layers")
	}
	// remote is a URL the daemon fetches from the Docker host (its
	// loopback included); BuildKit's own sessions name client-session.
	if remote := q.Get("remote"); remote != "" && remote != "client-session" {
		return g.denied("", "a build context from a URL (remote=) is refused: the Docker host would fetch it from its own network; send the context")
	}
	// Intermediate containers of the classic builder are the daemon's, not
	// the run's: removed, also when a step fails.
	q.Set("rm", "1")
	q.Set("forcerm", "1")
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
	if err := g.checkChanges(q["changes"]); err != nil {
		return err
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

// changeInstructions are the Dockerfile instructions commit and import
// may apply. LABEL is not among them: the parser's escapes and variables
// make its keys unreadable here, and labels say whose an image is.
var changeInstructions = map[string]bool{"CMD": true, "ENTRYPOINT": true, "ENV": true, "EXPOSE": true,
	"USER": true, "VOLUME": true, "WORKDIR": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true}

func (g *Guard) checkChanges(changes []string) error {
	for _, c := range changes {
		for _, line := range strings.Split(c, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			word, _, _ := strings.Cut(line, " ")
			if !changeInstructions[strings.ToUpper(word)] || strings.ContainsAny(word, "\\$") {
				return g.denied("", "the change %q is refused: commit and import may apply %s", line, "CMD, ENTRYPOINT, ENV, EXPOSE, USER, VOLUME, WORKDIR, STOPSIGNAL, HEALTHCHECK and SHELL")
			}
		}
	}
	return nil
}

// imageCreate pulls (any image may be pulled: it comes under its own
// name) or imports (into an own repository only).
func (g *Guard) imageCreate(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	if q.Get("fromSrc") != "" {
		if q.Get("fromSrc") != "-" {
			return g.denied("", "importing from a URL is refused: the Docker host would fetch it from its own network; send the archive (docker import FILE)")
		}
		if err := g.checkChanges(q["changes"]); err != nil {
			return err
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
