package runproto

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Servers splits a list of one server's addresses, separated by commas
// (how an agent hands them to its runners in JETWAY_SERVER).
func Servers(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSuffix(strings.TrimSpace(s), "/"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// failover sends a runner's requests to the first of several addresses of
// its server (replicas on one database), and when that one does not
// answer, to the next: a runner outlives the replica it started with, as
// its agent does. A request is moved only when no answer came and its
// body can be sent again; AWS-signed requests stay, since the address is
// part of their signature. A request may be sent again after it reached
// the first server and its answer was lost: every route a runner calls
// bears that (reads, numbered events stored once, key pairs issued anew).
type failover struct {
	base    http.RoundTripper
	mu      sync.Mutex
	servers []*url.URL
	current int
}

func newFailover(base http.RoundTripper, servers []string) (*failover, error) {
	f := &failover{base: base}
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil {
			return nil, err
		}
		f.servers = append(f.servers, u)
	}
	if len(f.servers) == 0 {
		return nil, errors.New("no server address")
	}
	return f, nil
}

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-") || len(f.servers) < 2 {
		return f.base.RoundTrip(req)
	}
	f.mu.Lock()
	start := f.current
	f.mu.Unlock()
	var lastErr error
	for i := range f.servers {
		at := (start + i) % len(f.servers)
		r := req.Clone(req.Context())
		r.URL.Scheme, r.URL.Host, r.Host = f.servers[at].Scheme, f.servers[at].Host, ""
		if i > 0 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, lastErr
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, lastErr
			}
			r.Body = body
		}
		resp, err := f.base.RoundTrip(r)
		if err == nil {
			f.mu.Lock()
			f.current = at
			f.mu.Unlock()
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}
