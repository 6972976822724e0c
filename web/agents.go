package web

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// States of an agent on the Agents page.
const (
	agentOnline  = "online"
	agentOffline = "offline" // silent for the lease timeout: it has lost its runs
	agentRevoked = "revoked"
	agentNew     = "new" // a token no agent has used yet: "never seen"
)

// agentRow is an agent as the Agents page shows it.
type agentRow struct {
	Name        string
	Labels      []string // k=v, sorted by key
	Version     string
	Address     string
	Concurrency int
	Running     []string
	// State is one of the states above; StateText says it on the page.
	State, StateText string
	// Seen is when the agent last spoke ("" if never), Ago how long before
	// the page was made; AgeMS is that in milliseconds, which the page
	// counts on from.
	Seen, Ago string
	AgeMS     int64
}

func agentRows(agents []api.Agent, now time.Time, lease time.Duration) []agentRow {
	rows := make([]agentRow, 0, len(agents))
	for _, a := range agents {
		r := agentRow{Name: a.Name, Version: a.Version, Address: a.Address, Concurrency: a.Concurrency, Running: a.Running,
			State: agentNew}
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			r.Labels = append(r.Labels, k+"="+a.Labels[k])
		}
		if a.LastSeen != nil {
			age := max(now.Sub(*a.LastSeen), 0)
			r.Seen, r.Ago, r.AgeMS = fmtTime(a.LastSeen), fmtAgo(age), age.Milliseconds()
			// As the server decides: an agent silent for the lease
			// timeout loses its runs.
			r.State = agentOnline
			if age >= lease {
				r.State = agentOffline
			}
		}
		if a.Revoked {
			r.State = agentRevoked
		}
		r.StateText = r.State
		if r.State == agentNew {
			r.StateText = "never seen"
		}
		rows = append(rows, r)
	}
	return rows
}

// fmtAgo says how long ago, to the largest whole unit: "2s ago", "5m ago".
// app.js has the same function, for the page's counting.
func fmtAgo(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(d, 0)/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", d/time.Minute)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", d/time.Hour)
	}
	return fmt.Sprintf("%dd ago", d/(24*time.Hour))
}

func (d *Dashboard) agentsPage(w http.ResponseWriter, r *http.Request, sess Session) {
	agents, err := d.source.ListAgents(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	lease := d.source.LeaseTimeout()
	d.render(w, http.StatusOK, "agents", &sess, map[string]any{"Title": "Agents", "Agents": agentRows(agents, d.now(), lease),
		"Lease": lease.String(), "LeaseMS": lease.Milliseconds()})
}

// agentPoll is how often the Agents page's stream looks at the agents.
const agentPoll = 500 * time.Millisecond

// agentEvents streams the Agents page's table. An "agents" event carries
// the table's rows, rendered by the page's own template ({"rows": html}),
// whenever an agent comes, goes or changes; a "seen" event carries how
// long ago each agent spoke, in milliseconds ({"b1": 412}), whenever one
// speaks. The page counts the time on from there and marks an agent
// offline when it reaches the lease timeout, so a silent agent needs no
// event. The stream starts with both, so that nothing that happened
// between the page and the stream is missed.
func (d *Dashboard) agentEvents(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	lease := d.source.LeaseTimeout()
	tick := time.NewTicker(agentPoll)
	defer tick.Stop()
	var sentRows, sentSeen string
	for {
		agents, err := d.source.ListAgents(ctx)
		if err != nil {
			return
		}
		now := d.now()
		if key := tableKey(agents); key != sentRows {
			var rows strings.Builder
			if err := d.pages["agents"].ExecuteTemplate(&rows, "agentRows", agentRows(agents, now, lease)); err != nil {
				d.log.Error("rendering the agents table", "err", err)
				return
			}
			b, _ := json.Marshal(map[string]string{"rows": rows.String()})
			fmt.Fprintf(w, "event: agents\ndata: %s\n\n", b)
			sentRows = key
		}
		if key := seenKey(agents); key != sentSeen {
			ages := map[string]int64{}
			for _, a := range agents {
				if a.LastSeen != nil && !a.Revoked { // a revoked agent is not online or offline
					ages[a.Name] = max(now.Sub(*a.LastSeen), 0).Milliseconds()
				}
			}
			b, _ := json.Marshal(ages)
			fmt.Fprintf(w, "event: seen\ndata: %s\n\n", b)
			sentSeen = key
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// tableKey is what the table shows of the agents, but for when each last
// spoke: only whether it ever did.
func tableKey(agents []api.Agent) string {
	agents = slices.Clone(agents)
	for i := range agents {
		if agents[i].LastSeen != nil {
			agents[i].LastSeen = &time.Time{}
		}
	}
	b, _ := json.Marshal(agents)
	return string(b)
}

// seenKey is when each agent last spoke.
func seenKey(agents []api.Agent) string {
	var b strings.Builder
	for _, a := range agents {
		if a.LastSeen != nil {
			fmt.Fprintf(&b, "%s %d\n", a.Name, a.LastSeen.UnixNano())
		}
	}
	return b.String()
}
