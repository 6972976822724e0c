package build

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
)

// stepNameRE matches the names the Dockerfile frontend gives the vertices
// of Dockerfile instructions: "[2/3] RUN make", "[builder 1/4] FROM …".
var stepNameRE = regexp.MustCompile(`^\[(?:[^\]]*\s)?(\d+)/(\d+)\] (.*)$`)

// statusReport turns BuildKit's status stream into the build's log and
// steps. BuildKit sends every vertex many times as it progresses, and
// output in arbitrary pieces; the log gets one line per event that
// matters — a step starts, prints a line, ends (cached, done with its
// time, or failed) — numbered like BuildKit's plain progress (#N), and no
// transfer progress.
type statusReport struct {
	log    io.Writer
	onStep func(Step)
	byDig  map[string]*vertexState
	next   int
	steps  []Step
}

type vertexState struct {
	num  int
	name string
	// step is name parsed (isStep: a Dockerfile instruction), once per
	// name: BuildKit repeats a vertex in many status messages.
	step    Step
	isStep  bool
	started bool // its start was logged
	done    bool
	partial []byte // output after its last newline
}

func newStatusReport(log io.Writer, onStep func(Step)) *statusReport {
	return &statusReport{log: log, onStep: onStep, byDig: map[string]*vertexState{}}
}

func (r *statusReport) vertex(dig string) *vertexState {
	v, ok := r.byDig[dig]
	if !ok {
		r.next++
		v = &vertexState{num: r.next}
		r.byDig[dig] = v
	}
	return v
}

func (r *statusReport) printf(format string, args ...any) {
	fmt.Fprintf(r.log, format+"\n", args...)
}

// update applies one status message.
func (r *statusReport) update(s *controlapi.StatusResponse) {
	for _, v := range s.Vertexes {
		st := r.vertex(v.Digest)
		if v.Name != "" && v.Name != st.name {
			st.name = v.Name
			st.step, st.isStep = parseStepName(v.Name)
		}
		if st.done {
			continue
		}
		if v.Started != nil && v.Completed == nil && !v.Cached && st.isStep && !st.started {
			st.started = true
			r.printf("#%d %s", st.num, st.name)
		}
		if v.Completed == nil && v.Error == "" && !(v.Cached && v.Started == nil) {
			continue
		}
		st.done = true
		r.flushOutput(st)
		var took time.Duration
		if v.Started != nil && v.Completed != nil {
			took = v.Completed.AsTime().Sub(v.Started.AsTime())
		}
		head := "#" + strconv.Itoa(st.num)
		if !st.started {
			head += " " + st.name
		}
		switch {
		case v.Error != "" && strings.HasPrefix(st.name, cacheImportPrefix):
			// Not a failure: BuildKit goes on without the cache, and the
			// first build of an image has none to import.
			r.printf("%s: nothing imported (%s)%s; building without it", head, v.Error, RegistryHint(v.Error))
		case v.Error != "":
			r.printf("%s ERROR: %s%s", head, v.Error, RegistryHint(v.Error))
		case v.Cached:
			r.printf("%s CACHED", head)
		default:
			r.printf("%s DONE %s", head, roundDuration(took))
		}
		if step, ok := st.step, st.isStep; ok {
			step.Cached = v.Cached && v.Error == ""
			step.Duration = took
			r.steps = append(r.steps, step)
			if r.onStep != nil {
				r.onStep(step)
			}
		}
	}
	for _, l := range s.Logs {
		st := r.vertex(l.Vertex)
		st.partial = append(st.partial, l.Msg...)
		for {
			i := bytes.IndexByte(st.partial, '\n')
			if i < 0 {
				break
			}
			r.printf("#%d %s", st.num, strings.TrimRight(string(st.partial[:i]), "\r"))
			st.partial = st.partial[i+1:]
		}
	}
	for _, w := range s.Warnings {
		r.printf("#%d WARNING: %s", r.vertex(w.Vertex).num, bytes.TrimSpace(w.Short))
	}
}

// flushOutput logs what a vertex printed after its last newline.
func (r *statusReport) flushOutput(st *vertexState) {
	if len(st.partial) > 0 {
		r.printf("#%d %s", st.num, strings.TrimRight(string(st.partial), "\r"))
		st.partial = nil
	}
}

// parseStepName tells whether a vertex is a Dockerfile instruction, and
// which. FROM is never cacheable, as with the classic builder.
func parseStepName(name string) (Step, bool) {
	m := stepNameRE.FindStringSubmatch(name)
	if m == nil {
		return Step{}, false
	}
	n, _ := strconv.Atoi(m[1])
	instr := m[3]
	return Step{Number: n, Instruction: instr, Cacheable: !strings.HasPrefix(strings.ToUpper(instr), "FROM ")}, true
}

func roundDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// cacheImportPrefix starts the name of the vertex that imports the cache
// of image.cache_from.
const cacheImportPrefix = "importing cache manifest from "

// RegistryHint says what to do about a registry error that BuildKit makes
// where the classic builder did not: a plain-HTTP registry that the
// daemon lists as insecure in the HOST:PORT form. dockerd (20.10 and
// later) hands only http://HOST:PORT entries of insecure-registries to
// its BuildKit as plain HTTP; HOST:PORT ones it cannot parse as URLs and
// passes as nothing, so BuildKit speaks HTTPS to them. It returns "" for
// other errors.
func RegistryHint(msg string) string {
	if !strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		return ""
	}
	return " (a plain-HTTP registry: BuildKit on the Docker host speaks HTTPS to it unless the daemon lists it with its scheme, \"insecure-registries\": [\"http://HOST:PORT\"] in daemon.json; or serve the registry over TLS, or set image.builder: classic)"
}
