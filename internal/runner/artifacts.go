package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/runproto"
)

// ArtifactStore keeps a run's artifacts: runproto.Run does, on the server,
// with the run token. A chunk is at most api.ArtifactChunkSize bytes,
// named by its sha256; an artifact is the concatenation of its chunks.
type ArtifactStore interface {
	PutArtifactChunk(ctx context.Context, hash string, data []byte) error
	AddArtifact(ctx context.Context, a api.NewArtifact) error
}

const (
	// artifactTimeout bounds keeping the artifacts of a run that timed
	// out, whose own time is over.
	artifactTimeout = 5 * time.Minute
	// maxArtifactVisits bounds the directory entries looked at while
	// matching artifacts: (a phase can make a tree of any size).
	maxArtifactVisits = 200000
	// maxArtifactRefusals bounds the refused files the log names one by one.
	maxArtifactRefusals = 100
)

// keepArtifacts collects the files artifacts: names from the workspace
// after the phases, and hands them to the ArtifactStore.
//
// The runner is root and the workspace is the run's: the phases wrote it,
// and a process they left behind may still change it. So every path is
// opened beneath the workspace through an os.Root, a link is never
// followed (an artifact that is a link, or lies beneath one, is refused,
// wherever it points), only regular files of the run user are read (a
// hard link to a file of another user is refused), each is read once, in
// chunks hashed as they are sent, and the whole is bounded
// (api.MaxArtifactsSize, api.MaxArtifacts). What is refused is said in
// the log and does not fail the run; a file the server could not take
// does.
func (r *run) keepArtifacts(ctx context.Context) error {
	patterns := r.opts.Project.Artifacts
	if len(patterns) == 0 || r.sb == nil {
		return nil
	}
	switch {
	case errors.Is(context.Cause(ctx), errTimedOut):
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), artifactTimeout)
		defer cancel()
	case ctx.Err() != nil:
		r.emit(Event{Type: "warning", Message: "artifacts: not kept, the run was cancelled"})
		return nil
	}
	r.lines.setPhase("artifacts")
	defer r.lines.setPhase("")
	r.emit(Event{Type: "phase_started", Phase: "artifacts"})
	start := time.Now()
	err := r.collectArtifacts(ctx, patterns)
	status := "succeeded"
	if err != nil {
		status = "failed"
		r.emit(Event{Type: "error", Phase: "artifacts", Message: err.Error()})
	}
	d := time.Since(start)
	r.summary.Phases = append(r.summary.Phases, PhaseResult{Name: "artifacts", Status: status, Duration: d})
	r.emit(Event{Type: "phase_finished", Phase: "artifacts", Status: status, Duration: d})
	if err != nil {
		return fmt.Errorf("phase artifacts: %w", err)
	}
	return nil
}

func (r *run) collectArtifacts(ctx context.Context, patterns []string) error {
	root, err := os.OpenRoot(r.sb.Workspace)
	if err != nil {
		return err
	}
	defer root.Close()
	refusals := 0
	m := &artifactMatcher{ctx: ctx, root: root, seen: map[string]bool{}, refuse: func(msg string) {
		// A phase can make any number of links: the log says so a while,
		// then how many more there were.
		if refusals++; refusals <= maxArtifactRefusals {
			r.emit(Event{Type: "warning", Phase: "artifacts", Message: "artifacts: " + msg})
		}
	}}
	defer func() {
		if refusals > maxArtifactRefusals {
			r.emit(Event{Type: "warning", Phase: "artifacts", Message: fmt.Sprintf("artifacts: %d more files refused", refusals-maxArtifactRefusals)})
		}
	}()
	for _, p := range patterns {
		if n := m.match(p); n == 0 && !m.full {
			r.emit(Event{Type: "warning", Phase: "artifacts", Message: fmt.Sprintf("artifacts: %s matched nothing", p)})
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("looking for the files to keep: %w", context.Cause(ctx))
	}
	uid := -1
	if r.sb.User != "" {
		uid = r.sb.UID
	}
	var kept, serverRefused int
	var total int64
	buf := make([]byte, api.ArtifactChunkSize)
	for _, name := range m.files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("keeping the files: %w", context.Cause(ctx))
		}
		if kept == api.MaxArtifacts {
			r.emit(Event{Type: "warning", Phase: "artifacts", Message: fmt.Sprintf("artifacts: %d files left out: a run keeps at most %d", len(m.files)-kept, api.MaxArtifacts)})
			break
		}
		a, err := r.keepArtifact(ctx, root, name, uid, api.MaxArtifactsSize-total, buf)
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			m.refuse(refused.msg)
			continue
		case runproto.IsArtifactRefused(err):
			// The server said why, once, in the log; this file and the
			// rest are not kept.
			serverRefused = len(m.files) - kept
		case err != nil:
			return fmt.Errorf("keeping %s: %w", name, err)
		}
		if serverRefused > 0 {
			break
		}
		kept++
		total += a.Size
		r.emit(Event{Type: "command", Phase: "artifacts", Message: fmt.Sprintf("kept %s (%s)", a.Name, api.HumanBytes(a.Size))})
	}
	where := "on the server"
	if r.opts.Artifacts == nil {
		where = "nowhere: there is no server to keep them (jetway run)"
	}
	if serverRefused > 0 {
		r.emit(Event{Type: "warning", Phase: "artifacts", Message: fmt.Sprintf("artifacts: %d files, %s, kept on the server; the server refused the other %d", kept, api.HumanBytes(total), serverRefused)})
		return nil
	}
	r.emit(Event{Type: "command", Phase: "artifacts", Message: fmt.Sprintf("%d files, %s, kept %s (a run keeps at most %d files, %s in all)",
		kept, api.HumanBytes(total), where, api.MaxArtifacts, api.HumanBytes(api.MaxArtifactsSize))})
	return nil
}

// refusedError is a file that is not kept, and why; it does not fail the
// run.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &refusedError{msg: fmt.Sprintf(format, args...)}
}

// keepArtifact reads one file beneath root, at most budget bytes, and
// sends it a chunk at a time.
func (r *run) keepArtifact(ctx context.Context, root *os.Root, name string, uid int, budget int64, buf []byte) (api.Artifact, error) {
	a := api.Artifact{Name: name}
	if err := api.CheckArtifactName(name); err != nil {
		return a, refuse("%v", err)
	}
	// O_NOFOLLOW: a file swapped for a link since it was listed is not
	// followed; O_NONBLOCK: nor does a FIFO swapped in hang the runner.
	f, err := root.OpenFile(name, os.O_RDONLY|oNoFollow|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return a, refuse("%s is a symbolic link; links are never followed", name)
	}
	if err != nil {
		return a, refuse("%s cannot be opened beneath the workspace: %v", name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return a, err
	}
	if !info.Mode().IsRegular() {
		return a, refuse("%s is not a regular file", name)
	}
	if owner, ok := fileOwner(info); ok && uid >= 0 && owner != uid {
		return a, refuse("%s belongs to UID %d, not to the run user: only files the run wrote are kept", name, owner)
	}
	if info.Size() > budget {
		return a, refuse("%s (%s) is beyond what is left of the %s a run keeps", name, api.HumanBytes(info.Size()), api.HumanBytes(api.MaxArtifactsSize))
	}
	whole := sha256.New()
	var chunks []string
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			if a.Size+int64(n) > budget {
				return a, refuse("%s grew beyond what is left of the %s a run keeps while it was read", name, api.HumanBytes(api.MaxArtifactsSize))
			}
			sum := sha256.Sum256(buf[:n])
			hash := hex.EncodeToString(sum[:])
			if r.opts.Artifacts != nil {
				if err := r.opts.Artifacts.PutArtifactChunk(ctx, hash, buf[:n]); err != nil {
					return a, err
				}
			}
			whole.Write(buf[:n])
			chunks = append(chunks, hash)
			a.Size += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return a, refuse("%s cannot be read: %v", name, err)
		}
	}
	a.SHA256 = hex.EncodeToString(whole.Sum(nil))
	if r.opts.Artifacts != nil {
		if err := r.opts.Artifacts.AddArtifact(ctx, api.NewArtifact{Artifact: a, Chunks: chunks}); err != nil {
			return a, err
		}
	}
	return a, nil
}

// artifactMatcher finds the files of artifacts: beneath the workspace,
// looking at every path with Lstat through the root: a link is refused,
// never followed.
type artifactMatcher struct {
	// ctx ends the search: a stop, or the timeout of a timed-out run's
	// collection. A phase can make a tree as large and deep as it likes.
	ctx    context.Context
	root   *os.Root
	files  []string
	seen   map[string]bool
	visits int
	full   bool // maxArtifactVisits reached, or ctx ended
	refuse func(msg string)
}

// maxArtifactDepth bounds how deep the search goes beneath the workspace:
// os.Root opens a path a component at a time, so a tree a phase made
// thousands of levels deep would cost the root runner time that grows
// with the square of its depth.
const maxArtifactDepth = 48

// match adds the files pattern names and returns how many paths matched.
func (m *artifactMatcher) match(pattern string) int {
	dirOnly := strings.HasSuffix(pattern, "/")
	segs := strings.Split(strings.TrimSuffix(pattern, "/"), "/")
	cur := []string{"."}
	for i, seg := range segs {
		last := i == len(segs)-1
		var next []string
		for _, base := range cur {
			for _, cand := range m.candidates(base, seg) {
				info, err := m.root.Lstat(cand)
				if err != nil {
					continue
				}
				switch {
				case info.Mode()&fs.ModeSymlink != 0:
					m.refuse(fmt.Sprintf("%s is a symbolic link; links are never followed", cand))
				case info.IsDir():
					next = append(next, cand)
				case last && !dirOnly && info.Mode().IsRegular():
					next = append(next, cand)
				case last && !dirOnly:
					m.refuse(fmt.Sprintf("%s is not a regular file", cand))
				}
			}
		}
		cur = next
	}
	for _, p := range cur {
		if info, err := m.root.Lstat(p); err == nil && info.IsDir() {
			m.walk(p)
		} else {
			m.add(p)
		}
	}
	return len(cur)
}

// candidates are base/seg when seg is a plain name, or the entries of
// base that seg matches as a glob.
func (m *artifactMatcher) candidates(base, seg string) []string {
	if !strings.ContainsAny(seg, `*?[\`) {
		return []string{path.Join(base, seg)}
	}
	var out []string
	m.readDir(base, func(e fs.DirEntry) {
		if ok, _ := path.Match(seg, e.Name()); ok {
			out = append(out, path.Join(base, e.Name()))
		}
	})
	return out
}

// walk adds the regular files beneath dir; links and other files are
// refused, directories entered.
func (m *artifactMatcher) walk(dir string) {
	m.readDir(dir, func(e fs.DirEntry) {
		p := path.Join(dir, e.Name())
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			m.refuse(fmt.Sprintf("%s is a symbolic link; links are never followed", p))
		case t.IsDir():
			m.walk(p)
		case t.IsRegular():
			m.add(p)
		default:
			m.refuse(fmt.Sprintf("%s is not a regular file", p))
		}
	})
}

// readDir calls fn for each entry of dir, in name order, within the bound
// of entries visited.
func (m *artifactMatcher) readDir(dir string, fn func(fs.DirEntry)) {
	if m.full {
		return
	}
	if m.ctx.Err() != nil {
		m.full = true
		return
	}
	if strings.Count(dir, "/") >= maxArtifactDepth {
		m.refuse(fmt.Sprintf("%s is more than %d directories deep; not searched", dir, maxArtifactDepth))
		return
	}
	entries, err := fs.ReadDir(m.root.FS(), dir)
	if err != nil {
		m.refuse(fmt.Sprintf("%s cannot be listed: %v", dir, err))
		return
	}
	for _, e := range entries {
		if m.ctx.Err() != nil {
			m.full = true
			return
		}
		if m.visits++; m.visits > maxArtifactVisits {
			m.full = true
			m.refuse(fmt.Sprintf("stopped looking after %d entries of the workspace; name the directories to keep more precisely", maxArtifactVisits))
			return
		}
		fn(e)
	}
}

func (m *artifactMatcher) add(p string) {
	if !m.seen[p] {
		m.seen[p] = true
		m.files = append(m.files, p)
	}
}
