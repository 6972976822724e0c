package api

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// ContinuedMark ends the text of a log line's piece that goes on in the
// next line (see Event.Continued).
const ContinuedMark = "↩"

// Text renders an event as the lines of a readable log: phase banners,
// build steps with cache hits, the summary. The same text is shown by
// `jetway run`, stored by the server, and streamed to `jetway logs`.
func (e Event) Text() string {
	switch e.Type {
	case "log":
		if e.Continued {
			// A piece of an over-long line stays a line of its own, so no
			// reader has to hold the whole line; the mark says it goes on,
			// as an editor marks a wrapped line.
			return e.Message + ContinuedMark + "\n"
		}
		return e.Message + "\n"
	case "bootstrap":
		return fmt.Sprintf("[bootstrap] %s: %s\n", e.Status, e.Message)
	case "warning":
		return fmt.Sprintf("warning: %s\n", e.Message)
	case "phase_started":
		return fmt.Sprintf("\n==> %s\n", e.Phase)
	case "phase_finished":
		return fmt.Sprintf("<== %s %s in %s\n", e.Phase, e.Status, round(e.Duration))
	case "command":
		return fmt.Sprintf("$ %s\n", e.Message)
	case "step":
		state := "built"
		if e.Step.Cached {
			state = "cached"
		}
		return fmt.Sprintf("    step %d %s in %s\n", e.Step.Number, state, round(e.Step.Duration))
	case "error":
		return fmt.Sprintf("error: %s\n", e.Message)
	case "summary":
		if e.Summary != nil {
			return e.Summary.Text()
		}
	}
	return ""
}

// Text renders the summary: the phase table, cache hits, times, digest.
func (s *Summary) Text() string {
	var b strings.Builder
	b.WriteString("\n== summary ==\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, p := range s.Phases {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Name, p.Status, round(p.Duration))
	}
	tw.Flush()
	if s.Build != nil {
		cached, cacheable := s.Build.CacheHits()
		fmt.Fprintf(&b, "  image: %s, %d/%d steps cached, build %s", s.Image, cached, cacheable, round(s.Build.Duration))
		if s.PushDuration > 0 {
			fmt.Fprintf(&b, ", push %s", round(s.PushDuration))
		}
		b.WriteString("\n")
		var built []string
		for _, st := range s.Build.Steps {
			if !st.Cached && st.Cacheable {
				built = append(built, fmt.Sprintf("step %d %s", st.Number, round(st.Duration)))
			}
		}
		if len(built) > 0 {
			fmt.Fprintf(&b, "  built: %s\n", strings.Join(built, ", "))
		}
	}
	if s.Digest != "" {
		fmt.Fprintf(&b, "  digest: %s\n", s.Digest)
	}
	fmt.Fprintf(&b, "run %s %s in %s\n", s.RunID, s.Status, round(s.Duration))
	return b.String()
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }

// String renders a checkout as branch@sha7, with +dirty for local changes,
// or "-" outside git.
func (g Git) String() string {
	if g.SHA == "" {
		return "-"
	}
	s := g.Branch + "@" + g.SHA[:min(7, len(g.SHA))]
	if g.Dirty {
		s += "+dirty"
	}
	return s
}

// CacheText is "cached/cacheable" build steps, or "-" without a build.
func (s *Summary) CacheText() string {
	if s == nil || s.Build == nil {
		return "-"
	}
	cached, cacheable := s.Build.CacheHits()
	return fmt.Sprintf("%d/%d", cached, cacheable)
}

// HumanBytes renders a size in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
