package hosts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

func pool(names ...string) []api.DockerHost {
	var out []api.DockerHost
	for _, n := range names {
		out = append(out, api.DockerHost{Name: n, URL: "ssh://b@" + n, Pool: "p"})
	}
	return out
}

func homes(keys []string, hosts []api.DockerHost) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		out[k] = Rank(k, hosts)[0].Name
	}
	return out
}

func keys(n int) []string {
	var out []string
	for i := range n {
		out = append(out, Key(fmt.Sprintf("project-%d", i), "Dockerfile"))
	}
	return out
}

// TestRankMovesOnlyWhatAHostWinsOrLoses: adding a host moves only the
// keys it now wins; removing one moves only the keys it had.
func TestRankMovesOnlyWhatAHostWinsOrLoses(t *testing.T) {
	ks := keys(2000)
	three := homes(ks, pool("b1", "b2", "b3"))
	four := homes(ks, pool("b1", "b2", "b3", "b4"))
	moved := 0
	for _, k := range ks {
		if three[k] != four[k] {
			if four[k] != "b4" {
				t.Fatalf("%q moved from %s to %s when b4 came", k, three[k], four[k])
			}
			moved++
		}
	}
	// b4 should win about a quarter of the keys.
	if moved < 400 || moved > 600 {
		t.Fatalf("b4 won %d of 2000 keys; want about 500", moved)
	}
	two := homes(ks, pool("b1", "b3"))
	for _, k := range ks {
		if three[k] != "b2" && two[k] != three[k] {
			t.Fatalf("%q moved from %s to %s when b2 went", k, three[k], two[k])
		}
	}
	// Order of the pool does not matter.
	if got := homes(ks, pool("b3", "b1", "b2")); fmt.Sprint(got) != fmt.Sprint(three) {
		t.Fatal("the ranking depends on the pool's order")
	}
}

// TestWeightsShareKeys: a host with little free disk wins fewer keys.
func TestWeightsShareKeys(t *testing.T) {
	ks := keys(4000)
	hosts := pool("b1", "b2")
	hosts[1].State = &api.HostState{Up: true, DiskBytes: 100 << 30, FreeBytes: 5 << 30} // weight 0.25
	count := map[string]int{}
	for _, k := range ks {
		count[Rank(k, hosts)[0].Name]++
	}
	// With weights 1 and 0.25 the second wins 0.25/1.25 = 20 %.
	if share := float64(count["b2"]) / float64(len(ks)); share < 0.16 || share > 0.24 {
		t.Fatalf("b2 won %.2f of the keys; want about 0.20", share)
	}
}

func TestChoose(t *testing.T) {
	key := Key("web", "Dockerfile")
	hosts := pool("b1", "b2", "b3")
	order := Rank(key, hosts)
	home, second, third := order[0].Name, order[1].Name, order[2].Name
	set := func(name string, f func(*api.DockerHost)) []api.DockerHost {
		out := pool("b1", "b2", "b3")
		for i := range out {
			if out[i].Name == name {
				f(&out[i])
			}
		}
		return out
	}
	names := func(a api.AssignedHost) (c []string) {
		for _, x := range a.Candidates {
			c = append(c, x.Name)
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		pool   []api.DockerHost
		want   []string
		reason string
	}{
		{"all up", hosts, []string{home, second, third}, ""},
		{"home down", set(home, func(h *api.DockerHost) { h.State = &api.HostState{Up: false, Error: "connection refused"} }), []string{second, third}, "down: connection refused"},
		{"home draining", set(home, func(h *api.DockerHost) { h.Draining = true }), []string{second, third}, "draining"},
		{"home at max builds", set(home, func(h *api.DockerHost) { h.MaxBuilds = 2; h.State = &api.HostState{Up: true, Builds: 2} }), []string{second, third}, "at its max builds (2)"},
		{"home full", set(home, func(h *api.DockerHost) {
			h.GC.MinFree = 10 << 30
			h.State = &api.HostState{Up: true, DiskBytes: 100 << 30, FreeBytes: 1 << 30}
		}), []string{second, third}, "full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Choose(key, tc.pool)
			if fmt.Sprint(names(got)) != fmt.Sprint(tc.want) {
				t.Fatalf("candidates %v, want %v", names(got), tc.want)
			}
			if tc.reason != "" && (len(got.Skipped) != 1 || got.Skipped[0].Name != home || !contains(got.Skipped[0].Reason, tc.reason)) {
				t.Fatalf("skipped %+v", got.Skipped)
			}
			if tc.reason == "" && !got.Candidates[0].Home {
				t.Fatal("the home host is not marked")
			}
		})
	}
	// Every host down: they stay as a last resort; draining never.
	all := pool("b1", "b2", "b3")
	for i := range all {
		all[i].State = &api.HostState{Up: false}
	}
	all[0].Draining = true
	if got := Choose(key, all); len(got.Candidates) != 2 || len(got.Skipped) != 3 {
		t.Fatalf("all down: %+v", got)
	}
	if d := Describe("b2", []api.SkippedHost{{Name: "b1", Reason: "down: connection refused"}}); d != "b2 (b1: down: connection refused)" {
		t.Fatal(d)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
