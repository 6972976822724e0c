package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// poolHost is a Docker host the server knows, as the Hosts page shows it:
// what jetway hosts ls prints.
type poolHost struct {
	Name, Pool, URL string
	// State is "up", "down" or "not checked"; Class its badge's class;
	// Since how long it has been up or down.
	State, Class, Since  string
	Draining             bool
	Error                string
	Free, Images, Cache  string
	Builds, Home, LastGC string
}

func poolHostOf(h api.DockerHost, now time.Time) poolHost {
	p := poolHost{Name: h.Name, Pool: h.Pool, URL: h.URL, Draining: h.Draining, State: "not checked", Class: "new",
		Free: "-", Images: "-", Cache: "-", Home: "-", LastGC: "-"}
	s := h.State
	if s == nil {
		s = &api.HostState{}
	}
	if !s.CheckedAt.IsZero() {
		p.State, p.Class = "down", "offline"
		if s.Up {
			p.State, p.Class = "up", "online"
		}
		p.Since = strings.TrimSuffix(fmtAgo(now.Sub(s.Since)), " ago")
		p.Error = s.Error
		// A host never found up has no sizes yet.
		if s.Up || s.ImagesBytes+s.BuildCacheBytes > 0 {
			p.Images, p.Cache = api.HumanBytes(s.ImagesBytes), api.HumanBytes(s.BuildCacheBytes)
		}
	}
	if s.DiskBytes > 0 {
		p.Free = fmt.Sprintf("%s (%d%%)", api.HumanBytes(s.FreeBytes), s.FreeBytes*100/s.DiskBytes)
	}
	p.Builds = fmt.Sprint(s.Builds)
	if h.MaxBuilds > 0 {
		p.Builds += fmt.Sprintf(" / %d", h.MaxBuilds)
	}
	if len(s.HomeProjects) > 0 {
		p.Home = strings.Join(s.HomeProjects, ", ")
	}
	if g := s.LastGC; g != nil {
		p.LastGC = fmt.Sprintf("%s, freed %s", fmtAgo(now.Sub(g.At)), api.HumanBytes(g.ImagesFreed+g.BuildCacheFreed))
		if g.Error != "" {
			p.LastGC += " (with errors)"
		}
	}
	return p
}
