package mask

import (
	"bytes"
	"errors"
	"io"
)

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// span is a half-open range of absolute stream offsets to mask.
type span struct{ start, end int64 }

// Writer masks what is written to it and writes the result to the
// underlying writer. It is not safe for concurrent use.
type Writer struct {
	m   *Matcher
	w   io.Writer
	row int32 // the automaton's state, as its row offset in delta
	// held are the bytes from offset heldAt on that are not written yet;
	// pos is the offset after the last byte written to the Writer.
	held   []byte
	heldAt int64
	pos    int64
	spans  []span // pending, sorted, disjoint
	out    []byte
	err    error

	run  int    // base64 characters that end the stream, up to MinWrapLine
	cr   crMark // the last '\r', which may begin a "\r\n" line break
	wrap wrapScan
}

// NewWriter returns a Writer that masks m's secrets on their way to w. If
// w is an io.Closer, Close closes it.
func (m *Matcher) NewWriter(w io.Writer) *Writer {
	return &Writer{m: m, w: w}
}

// Write masks p. It always consumes all of p; an error is the underlying
// writer's.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	for i := 0; i < len(p); {
		if w.wrap.on {
			i = w.scanWrapped(p, i)
		} else {
			i = w.scan(p, i)
		}
	}
	w.run = w.runBefore(p, len(p))
	w.held = append(w.held, p...)
	w.pos += int64(len(p))
	w.release(w.safe())
	return len(p), w.err
}

// scan feeds p[i:] through the automaton until p ends or a line break
// starts a wrapped match, and returns where it stopped.
func (w *Writer) scan(p []byte, i int) int {
	delta, classes := w.m.delta, &w.m.classes
	row := w.row
	for ; i < len(p); i++ {
		next := delta[row+int32(classes[p[i]])]
		if next < 0 {
			w.row = row
			next = w.step(p, i, ^next)
			if w.wrap.on {
				return i + 1
			}
		}
		row = next
	}
	w.row = row
	return i
}

// step handles byte p[i], which took the automaton from w.row to next and
// either ended a pattern or is a line break; it returns next.
func (w *Writer) step(p []byte, i int, next int32) int32 {
	m := w.m
	off := w.pos + int64(i)
	if n := m.outLen[m.state(next)]; n > 0 {
		w.addSpan(span{off + 1 - int64(n), off + 1})
	}
	switch p[i] {
	case '\r':
		w.cr = crMark{next: off + 1, row: w.row, run: w.runBefore(p, i)}
	case '\n':
		if !w.wrap.on {
			w.startWrap(p, i, off)
		}
	}
	w.row = next
	return next
}

// safe returns the first offset that a later write could make part of a
// match: before it, everything is final.
func (w *Writer) safe() int64 {
	m := w.m
	safe := w.pos - int64(m.depth[m.state(w.row)])
	if ws := &w.wrap; ws.on {
		end := w.pos
		if ws.cr {
			end--
		}
		safe = min(safe, ws.start(end, m.wrapDepth(ws.row)))
	} else if d := m.wrapDepth(w.cr.row); w.cr.next == w.pos && w.cr.run >= MinWrapLine && d > 0 {
		// A '\n' may follow and start a wrapped match.
		safe = min(safe, w.pos-1-int64(d))
	}
	return safe
}

func (w *Writer) addSpan(s span) {
	for n := len(w.spans); n > 0 && w.spans[n-1].end > s.start; n-- {
		last := w.spans[n-1]
		s.start = min(s.start, last.start)
		s.end = max(s.end, last.end)
		w.spans = w.spans[:n-1]
	}
	w.spans = append(w.spans, s)
}

// release writes everything before safe, the first offset a later match
// could still start at, except spans that a later match could still extend.
func (w *Writer) release(safe int64) {
	out := w.out[:0]
	done := w.heldAt
	for len(w.spans) > 0 && w.spans[0].start < safe {
		s := w.spans[0]
		out = append(out, w.held[done-w.heldAt:s.start-w.heldAt]...)
		done = s.start
		if s.end > safe {
			break // a later match may still grow this span
		}
		out = appendMasked(out, w.held[s.start-w.heldAt:s.end-w.heldAt])
		done = s.end
		w.spans = w.spans[1:]
	}
	if len(w.spans) == 0 || w.spans[0].start >= safe {
		if safe > done {
			out = append(out, w.held[done-w.heldAt:safe-w.heldAt]...)
			done = safe
		}
	}
	if done > w.heldAt {
		rest := copy(w.held, w.held[done-w.heldAt:])
		w.held = w.held[:rest]
		w.heldAt = done
	}
	w.out = out
	if len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			w.err = err
		}
	}
}

// appendMasked appends the masked rendering of secret text to dst: each
// line break in it ("\n" or "\r\n") stays, so the log keeps its lines, and
// every run of other bytes becomes one Replacement.
func appendMasked(dst, text []byte) []byte {
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			return append(dst, Replacement...)
		}
		brk := i
		if i > 0 && text[i-1] == '\r' {
			brk--
		}
		if brk > 0 {
			dst = append(dst, Replacement...)
		}
		dst = append(dst, text[brk:i+1]...)
		text = text[i+1:]
	}
	return dst
}

// Flush writes what is held, masking spans that are complete. Bytes held
// only because they could begin a secret are written as they are, and the
// automaton starts afresh: call it at the end of a stream.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.release(w.pos)
	w.row, w.run, w.cr = 0, 0, crMark{}
	w.stopWrap()
	return w.err
}

// Close flushes, then closes the underlying writer if it is an io.Closer.
func (w *Writer) Close() error {
	err := w.Flush()
	if c, ok := w.w.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

var _ io.WriteCloser = (*Writer)(nil)
