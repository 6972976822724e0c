// Package hosts is the server's Docker host pool: which host of a pool a
// run builds on (rendezvous ranking with health, drain, room and load),
// and the garbage collection that keeps a host within its limits, run by
// the runner around its build and by the server on demand.
//
// Ranking is highest-random-weight (rendezvous) hashing on a stable key:
// the project and its Dockerfile, never a checkout path (buildx's sticky
// balancing hashes the client's absolute context path, which differs from
// one CI machine to the next). Every host scores the key independently,
// so adding or removing a host moves only the projects that host wins or
// loses. Written by hand: it is twenty lines, and the libraries found
// (consistent-hash rings) need virtual nodes to approach what rendezvous
// gives by construction.
package hosts

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jetway-dev/jetway/internal/api"
)

// Key is the affinity key of a project's builds.
func Key(project, dockerfile string) string {
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	return project + "\x00" + dockerfile
}

// Weight is how much a host is preferred, from what is known of it: a host
// whose disk is filling wins fewer keys (in steps, so a few bytes more or
// less move nobody).
func Weight(s *api.HostState) float64 {
	if s == nil || s.DiskBytes <= 0 {
		return 1
	}
	switch free := float64(s.FreeBytes) / float64(s.DiskBytes); {
	case free < 0.10:
		return 0.25
	case free < 0.25:
		return 0.5
	}
	return 1
}

// score is the host's weighted rendezvous score for key: -w / ln(u), with
// u uniform in (0, 1) from the hash of key and host.
func score(key, host string, weight float64) float64 {
	sum := sha256.Sum256([]byte(key + "\x00" + host))
	u := (float64(binary.BigEndian.Uint64(sum[:8])>>11) + 0.5) / (1 << 53)
	return -weight / math.Log(u)
}

// Rank orders hosts for key, best first.
func Rank(key string, hosts []api.DockerHost) []api.DockerHost {
	type scored struct {
		h api.DockerHost
		s float64
	}
	list := make([]scored, len(hosts))
	for i, h := range hosts {
		list[i] = scored{h, score(key, h.Name, Weight(h.State))}
	}
	slices.SortStableFunc(list, func(a, b scored) int {
		if c := cmp.Compare(b.s, a.s); c != 0 {
			return c
		}
		return strings.Compare(a.h.Name, b.h.Name)
	})
	out := make([]api.DockerHost, len(list))
	for i, s := range list {
		out[i] = s.h
	}
	return out
}

// Choose picks, for a project's key, the hosts of its pool a run may build
// on, in order: the ranking without the hosts that are down, draining,
// full, or at their max builds (those are listed with the reason). When
// every host is passed over, hosts that were only down (the last check may
// be stale) and those only at max builds stay as a last resort; a
// draining or full host never does. The first host of the ranking is the
// project's home, whether usable or not.
func Choose(key string, pool []api.DockerHost) api.AssignedHost {
	ranked := Rank(key, pool)
	var out api.AssignedHost
	var lastResort []api.HostCandidate
	for i, h := range ranked {
		c := Candidate(h)
		c.Home = i == 0
		if reason := passOver(h); reason != "" {
			out.Skipped = append(out.Skipped, api.SkippedHost{Name: h.Name, Reason: reason})
			if !h.Draining && !full(h) {
				lastResort = append(lastResort, c)
			}
			continue
		}
		out.Candidates = append(out.Candidates, c)
	}
	if len(out.Candidates) == 0 {
		out.Candidates = lastResort
	}
	return out
}

// Candidate is what a runner needs of h.
func Candidate(h api.DockerHost) api.HostCandidate {
	return api.HostCandidate{Name: h.Name, URL: h.URL, SSHKey: h.SSHKey, KnownHosts: h.KnownHosts,
		TLSCA: h.TLSCA, TLSCert: h.TLSCert, TLSKey: h.TLSKey, GC: h.GC}
}

// passOver says why a run should not build on h now, or "".
func passOver(h api.DockerHost) string {
	switch {
	case h.Draining:
		return "draining"
	case h.State != nil && !h.State.Up:
		if h.State.Error != "" {
			return "down: " + h.State.Error
		}
		return "down"
	case full(h):
		return fmt.Sprintf("full: %s free, needs %s", api.HumanBytes(h.State.FreeBytes), api.HumanBytes(minFree(h)))
	case h.MaxBuilds > 0 && h.State != nil && h.State.Builds >= h.MaxBuilds:
		return fmt.Sprintf("at its max builds (%d)", h.MaxBuilds)
	}
	return ""
}

// full tells whether h's free disk is below its minimum even after GC
// (the last check ran after any GC the host's runs did).
func full(h api.DockerHost) bool {
	need := minFree(h)
	return need > 0 && h.State != nil && h.State.DiskBytes > 0 && h.State.FreeBytes < need
}

func minFree(h api.DockerHost) int64 {
	need := h.GC.MinFree
	if h.GC.MinFreePercent > 0 && h.State != nil && h.State.DiskBytes > 0 {
		need = max(need, int64(h.GC.MinFreePercent/100*float64(h.State.DiskBytes)))
	}
	return need
}

// Describe is the run log's line for the host a run got: "b2 (b1: down:
// connection refused)".
func Describe(chosen string, passed []api.SkippedHost) string {
	if len(passed) == 0 {
		return chosen
	}
	var why []string
	for _, p := range passed {
		why = append(why, p.Name+": "+p.Reason)
	}
	return chosen + " (" + strings.Join(why, "; ") + ")"
}
