package dockerguard

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
)

type handler func(w http.ResponseWriter, req *request) error

// route picks the handler of an allowed method and path; anything else is
// refused, naming the endpoint.
func (g *Guard) route(req *request) (handler, error) {
	p, m := req.parts, req.Method
	is := func(method string, parts ...string) bool {
		if m != method && !(method == http.MethodGet && m == http.MethodHead) || len(p) != len(parts) {
			return false
		}
		for i, want := range parts {
			if want != "*" && p[i] != want {
				return false
			}
		}
		return true
	}
	switch {
	case is(http.MethodGet, "_ping"), is(http.MethodGet, "version"), is(http.MethodGet, "info"):
		return g.plain, nil
	case is(http.MethodPost, "auth"):
		return jsonBody[registry.AuthConfig](g, nil), nil
	case is(http.MethodGet, "events"):
		return g.events, nil

	case is(http.MethodGet, "containers", "json"):
		return g.containerList, nil
	case is(http.MethodPost, "containers", "create"):
		return g.containerCreate, nil
	case is(http.MethodPost, "containers", "prune"), is(http.MethodPost, "networks", "prune"), is(http.MethodPost, "volumes", "prune"):
		return g.scopedPrune, nil
	case len(p) >= 2 && p[0] == "containers":
		return g.containerRoute(req)

	case is(http.MethodPost, "exec", "*", "start"):
		return g.execStart, nil
	case is(http.MethodPost, "exec", "*", "resize"), is(http.MethodGet, "exec", "*", "json"):
		return g.execOther, nil

	case is(http.MethodPost, "commit"):
		return g.commit, nil
	case is(http.MethodPost, "build"):
		return g.build, nil
	case is(http.MethodPost, "build", "cancel"):
		return g.plain, nil
	case is(http.MethodPost, "session"):
		// The BuildKit session: the client serves files, secrets and
		// credentials to the daemon; the daemon takes no orders on it.
		return g.stream, nil

	case is(http.MethodGet, "images", "json"), is(http.MethodGet, "images", "search"), is(http.MethodGet, "images", "get"):
		return g.plain, nil
	case is(http.MethodPost, "images", "create"):
		return g.imageCreate, nil
	case is(http.MethodPost, "images", "load"):
		return nil, g.denied("", "docker load is refused: a loaded archive names the tags it sets, so it could replace any project's images (a base image other builds use); push the image to a registry and pull it instead")
	case len(p) >= 2 && p[0] == "images" && p[1] != "prune":
		return g.imageRoute(req)
	case len(p) >= 3 && p[0] == "distribution" && p[len(p)-1] == "json" && m == http.MethodGet:
		return g.plain, nil

	case is(http.MethodGet, "networks"):
		return g.scopedList, nil
	case is(http.MethodPost, "networks", "create"):
		return g.networkCreate, nil
	case is(http.MethodGet, "networks", "*"), is(http.MethodDelete, "networks", "*"):
		return g.networkObject, nil
	case is(http.MethodPost, "networks", "*", "connect"), is(http.MethodPost, "networks", "*", "disconnect"):
		return g.networkConnect, nil

	case is(http.MethodGet, "volumes"):
		return g.scopedList, nil
	case is(http.MethodPost, "volumes", "create"):
		return g.volumeCreate, nil
	case is(http.MethodGet, "volumes", "*"), is(http.MethodDelete, "volumes", "*"):
		return g.volumeObject, nil
	}
	switch {
	case len(p) > 0 && (p[0] == "swarm" || p[0] == "nodes" || p[0] == "services" || p[0] == "tasks" || p[0] == "secrets" || p[0] == "configs"):
		return nil, g.denied("", "swarm endpoints (%s) are refused: they act on the whole Docker host", req.path)
	case len(p) > 0 && p[0] == "plugins":
		return nil, g.denied("", "plugin endpoints are refused: a plugin runs with the Docker host's privileges")
	case len(p) >= 2 && p[1] == "prune":
		return nil, g.denied("", "%s is refused: it prunes the whole Docker host, other projects' cache included (jetway's GC keeps the host within its limits)", req.path)
	case len(p) > 0 && p[0] == "grpc":
		return nil, g.denied("", "the BuildKit control API (/grpc) is refused: it takes build entitlements and prunes the whole host's cache; build with `docker build`, or let the runner build image:")
	case len(p) > 0 && p[0] == "system":
		return nil, g.denied("", "%s is refused: it lists every project's containers and volumes", req.path)
	}
	return nil, g.denied("", "%s %s is not an endpoint a run may use", req.Method, req.path)
}

// plain forwards a request that takes no body; whatever body came is
// dropped.
func (g *Guard) plain(w http.ResponseWriter, req *request) error {
	return g.forward(w, req, req.path, req.URL.Query(), nil, nil)
}

// stream forwards a request whose body is data (a tar, a session).
func (g *Guard) stream(w http.ResponseWriter, req *request) error {
	return g.forwardStream(w, req, req.path, req.URL.Query())
}

// jsonBody forwards a request whose body decodes into T, re-encoded after
// check (nil: no check beyond decoding).
func jsonBody[T any](g *Guard, check func(*T) error) handler {
	return func(w http.ResponseWriter, req *request) error {
		var v T
		empty, err := decodeBody(req.Request, &v)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(&v); err != nil {
				return err
			}
		}
		var body []byte
		if !empty {
			if body, err = encode(&v); err != nil {
				return err
			}
		}
		return g.forward(w, req, req.path, req.URL.Query(), body, nil)
	}
}

// containerRoute serves /containers/{id}/…: only the project's own.
func (g *Guard) containerRoute(req *request) (handler, error) {
	p, m := req.parts, req.Method
	id := p[1]
	action := strings.Join(p[2:], "/")
	var body func(w http.ResponseWriter, req *request, fullID string) error
	switch {
	case m == http.MethodDelete && action == "":
		body = g.noBody
	case (m == http.MethodGet || m == http.MethodHead) && oneOf(action, "json", "logs", "changes", "export", "stats", "archive", "attach/ws"):
		body = g.noBody
	case m == http.MethodHead && action == "archive":
		body = g.noBody
	case m == http.MethodPut && action == "archive":
		body = g.streamBody
	case m == http.MethodGet && action == "top":
		body = g.top
	case m == http.MethodPost && action == "rename":
		body = g.rename
	case m == http.MethodPost && oneOf(action, "start", "stop", "restart", "kill", "pause", "unpause", "resize", "wait"):
		// start's body is dropped: before API 1.24 it carried host
		// settings, and the guard checks only the creation's.
		body = g.noBody
	case m == http.MethodPost && action == "attach":
		body = g.noBody
	case m == http.MethodPost && action == "update":
		body = g.containerUpdate
	case m == http.MethodPost && action == "exec":
		body = g.execCreate
	default:
		return nil, g.denied("", "%s %s is not an endpoint a run may use", m, req.path)
	}
	return func(w http.ResponseWriter, req *request) error {
		full, err := g.ownContainer(req.Context(), id)
		if err != nil {
			return err
		}
		return body(w, req, full)
	}, nil
}

// containerPath is the request's path with the container named by the ID
// the guard checked: a name re-pointed between check and use changes
// nothing.
func containerPath(req *request, fullID string) string {
	rest := strings.Join(req.parts[2:], "/")
	if rest == "" {
		return "/containers/" + fullID
	}
	return "/containers/" + fullID + "/" + rest
}

func (g *Guard) noBody(w http.ResponseWriter, req *request, fullID string) error {
	return g.forward(w, req, containerPath(req, fullID), req.URL.Query(), nil, nil)
}

// top lists a container's processes; ps_args run as they are given on the
// Docker host (ps -p PID e prints another container's environment in its
// error), so only the plain forms pass.
func (g *Guard) top(w http.ResponseWriter, req *request, fullID string) error {
	q := req.URL.Query()
	switch q.Get("ps_args") {
	case "", "-ef", "aux", "-aux", "ef":
	default:
		return g.denied("", "docker top with ps options other than -ef or aux is refused: ps runs on the Docker host")
	}
	return g.forward(w, req, containerPath(req, fullID), q, nil, nil)
}

func (g *Guard) rename(w http.ResponseWriter, req *request, fullID string) error {
	return g.forward(w, req, containerPath(req, fullID), req.URL.Query(), nil, func(res *http.Response) error {
		if res.StatusCode == http.StatusConflict {
			return hideConflict(res)
		}
		return nil
	})
}

// containerList lists the containers this run created.
func (g *Guard) containerList(w http.ResponseWriter, req *request) error {
	q, err := g.withProjectFilter(req.URL.Query())
	if err != nil {
		return err
	}
	return g.forward(w, req, req.path, q, nil, func(res *http.Response) error {
		if res.StatusCode != http.StatusOK {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
		res.Body.Close()
		if err != nil {
			return err
		}
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(data, &list); err != nil {
			return fmt.Errorf("reading the container list: %w", err)
		}
		own := list[:0]
		for _, c := range list {
			var id string
			if json.Unmarshal(c["Id"], &id) == nil && g.created(id) {
				own = append(own, c)
			}
		}
		return replaceJSON(res, own)
	})
}

// events streams the events of the containers this run had created when
// the request came; other objects' events would tell of other projects.
func (g *Guard) events(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	user, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	// Values of one key are ORed by dockerd: the run's own filters are
	// kept only for the keys that cannot widen the set (event, label).
	f := filters.NewArgs()
	for _, k := range []string{"event", "label"} {
		for _, v := range user.Get(k) {
			f.Add(k, v)
		}
	}
	ids := g.ownContainers()
	if len(ids) == 0 {
		ids = []string{"none-of-this-run"}
	}
	for _, id := range ids {
		f.Add("container", id)
	}
	f.Add("type", "container")
	enc, err := filtersJSON(f)
	if err != nil {
		return err
	}
	q.Set("filters", enc)
	return g.forward(w, req, req.path, q, nil, nil)
}

func (g *Guard) streamBody(w http.ResponseWriter, req *request, fullID string) error {
	return g.forwardStream(w, req, containerPath(req, fullID), req.URL.Query())
}

func (g *Guard) containerUpdate(w http.ResponseWriter, req *request, fullID string) error {
	var u container.UpdateConfig
	if _, err := decodeBody(req.Request, &u); err != nil {
		return err
	}
	if err := g.checkResources(&u.Resources); err != nil {
		return err
	}
	body, err := encode(&u)
	if err != nil {
		return err
	}
	return g.forward(w, req, containerPath(req, fullID), req.URL.Query(), body, nil)
}

func (g *Guard) networkConnect(w http.ResponseWriter, req *request) error {
	netID, err := g.ownNetwork(req.Context(), req.parts[1], true)
	if err != nil {
		return err
	}
	var body []byte
	if req.parts[2] == "connect" {
		var c network.ConnectOptions
		if _, err := decodeBody(req.Request, &c); err != nil {
			return err
		}
		if c.Container, err = g.ownContainer(req.Context(), c.Container); err != nil {
			return err
		}
		if c.EndpointConfig != nil {
			if id := c.EndpointConfig.NetworkID; id != "" && id != netID {
				return g.denied("", "an endpoint's NetworkID must be the network connected to")
			}
			if err := g.checkLinks(req.Context(), c.EndpointConfig.Links); err != nil {
				return err
			}
		}
		body, err = encode(&c)
	} else {
		var d network.DisconnectOptions
		if _, err := decodeBody(req.Request, &d); err != nil {
			return err
		}
		if d.Container, err = g.ownContainer(req.Context(), d.Container); err != nil {
			return err
		}
		body, err = encode(&d)
	}
	if err != nil {
		return err
	}
	return g.forward(w, req, "/networks/"+netID+"/"+req.parts[2], req.URL.Query(), body, nil)
}

func oneOf(s string, list ...string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// scopedList lists only the project's objects (and, for events, only
// theirs): a label filter is added to the run's own filters, which dockerd
// combines with AND.
func (g *Guard) scopedList(w http.ResponseWriter, req *request) error {
	q, err := g.withProjectFilter(req.URL.Query())
	if err != nil {
		return err
	}
	return g.forward(w, req, req.path, q, nil, nil)
}

// scopedPrune prunes only the project's containers, networks or volumes.
func (g *Guard) scopedPrune(w http.ResponseWriter, req *request) error {
	return g.scopedList(w, req)
}

func (g *Guard) withProjectFilter(q url.Values) (url.Values, error) {
	f, err := parseFilters(q.Get("filters"))
	if err != nil {
		return nil, err
	}
	f.Add("label", LabelProject+"="+g.cfg.Project)
	enc, err := filtersJSON(f)
	if err != nil {
		return nil, err
	}
	q.Set("filters", enc)
	return q, nil
}
