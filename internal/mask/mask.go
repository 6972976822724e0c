// Package mask redacts secrets from a stream of bytes, however the stream
// is cut into writes.
//
// # Algorithm
//
// Compile turns every form of every secret (see Forms) into one
// Aho-Corasick automaton, stored as a dense DFA over byte classes: each byte
// that occurs in some pattern has a class of its own, all other bytes share
// class 0, so the table has (states × classes) entries and memory stays
// linear in the total length of the patterns. A state whose string ends
// with a pattern is marked by a negative table entry and knows the length
// of the longest such pattern, so the scan costs one table load and one
// sign test per byte.
//
// A Writer feeds every byte through the DFA once. When a pattern ends, its
// span joins the pending masked spans (spans that overlap merge, so the
// longest match wins and no part of any overlapping secret is shown). After
// each Write, the automaton's depth — the longest suffix of the input that
// is still the start of some pattern — marks the only bytes that a later
// write could turn into a secret: everything before them is final and is
// written downstream at once, with each finished span replaced by
// [MASKED]. A line in which no secret can start is therefore released as
// soon as it is written, and live logs stay live. Close (or Flush) releases
// what is held.
//
// Hand-written because no maintained Go library streams multi-pattern
// redaction across write boundaries; the design follows GitLab Runner's
// masker (buffer only a possible prefix) with an automaton instead of one
// matcher per secret.
package mask

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Replacement is written in place of every masked span.
const Replacement = "[MASKED]"

// Secret is a value to mask and where it came from, for error messages.
type Secret struct {
	Name  string // e.g. the variable, "DOCKER_PASS"
	Value []byte
}

// ShortSecretError is returned by Compile for a secret under MinSecretLen.
type ShortSecretError struct {
	Name string
	Len  int
}

func (e *ShortSecretError) Error() string {
	return fmt.Sprintf("secret %s is %d bytes long; secrets must be at least %d bytes, or every occurrence of so short a string would be masked in the log: use a longer value", e.Name, e.Len, MinSecretLen)
}

// Matcher is a compiled set of secrets. It is immutable and safe for
// concurrent use; each stream needs its own Writer.
type Matcher struct {
	classes  [256]byte
	nClasses int
	// delta[state*nClasses+class] is the next state's row offset
	// (next*nClasses), which saves a multiplication per byte; negative
	// (^offset) when the next state ends a pattern.
	delta     []int32
	depth     []int32 // length of the state's string
	outLen    []int32 // longest pattern that is a suffix of the state's string
	nPatterns int
}

// Compile builds a Matcher for secrets. Secrets shorter than MinSecretLen
// are refused with a *ShortSecretError naming them.
func Compile(secrets []Secret) (*Matcher, error) {
	var patterns [][]byte
	for _, s := range secrets {
		if len(s.Value) < MinSecretLen {
			return nil, &ShortSecretError{Name: s.Name, Len: len(s.Value)}
		}
		patterns = append(patterns, Forms(s.Value)...)
	}
	total := 0
	for _, p := range patterns {
		total += len(p)
	}
	// Row offsets are int32: states × classes must stay below 2^31.
	if total*256 >= math.MaxInt32 {
		return nil, fmt.Errorf("the secrets' forms add up to %d bytes; at most %d are supported", total, math.MaxInt32/256)
	}
	return compilePatterns(patterns), nil
}

type trieNode struct {
	next  map[byte]int32
	depth int32
	out   int32
}

func compilePatterns(patterns [][]byte) *Matcher {
	m := &Matcher{nPatterns: len(patterns)}
	// Byte classes: one per byte that occurs in a pattern.
	m.nClasses = 1
	for _, p := range patterns {
		for _, b := range p {
			if m.classes[b] == 0 {
				m.classes[b] = byte(m.nClasses)
				m.nClasses++
			}
		}
	}
	if m.nClasses > 256 {
		// Every byte occurs in some pattern: the 256th one got class
		// byte(256) == 0, which no other byte uses then.
		m.nClasses = 256
	}
	nodes := []trieNode{{next: map[byte]int32{}}}
	for _, p := range patterns {
		s := int32(0)
		for _, b := range p {
			c := m.classes[b]
			child, ok := nodes[s].next[c]
			if !ok {
				child = int32(len(nodes))
				nodes = append(nodes, trieNode{next: map[byte]int32{}, depth: nodes[s].depth + 1})
				nodes[s].next[c] = child
			}
			s = child
		}
		nodes[s].out = max(nodes[s].out, int32(len(p)))
	}
	n, k := len(nodes), m.nClasses
	m.delta = make([]int32, n*k)
	m.depth = make([]int32, n)
	m.outLen = make([]int32, n)
	fail := make([]int32, n)
	// Breadth-first, so a state's fail state is complete before it.
	queue := make([]int32, 0, n)
	for c := range k {
		if child, ok := nodes[0].next[byte(c)]; ok {
			m.delta[c] = child
			queue = append(queue, child)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		m.depth[s] = nodes[s].depth
		m.outLen[s] = max(nodes[s].out, m.outLen[fail[s]])
		for c := range k {
			viaFail := m.delta[int(fail[s])*k+c]
			if child, ok := nodes[s].next[byte(c)]; ok {
				m.delta[int(s)*k+c] = child
				fail[child] = viaFail
				queue = append(queue, child)
			} else {
				m.delta[int(s)*k+c] = viaFail
			}
		}
	}
	// Store row offsets, and mark transitions into pattern-ending states.
	for i, next := range m.delta {
		m.delta[i] = next * int32(k)
		if m.outLen[next] > 0 {
			m.delta[i] = ^m.delta[i]
		}
	}
	return m
}

// Patterns is the number of byte strings the matcher looks for.
func (m *Matcher) Patterns() int { return m.nPatterns }

// TableBytes is the memory the automaton's tables take.
func (m *Matcher) TableBytes() int {
	return 4 * (len(m.delta) + len(m.depth) + len(m.outLen))
}

// String masks s in one go, for error messages and other whole values.
func (m *Matcher) String(s string) string {
	var out []byte
	w := m.NewWriter(writerFunc(func(p []byte) (int, error) {
		out = append(out, p...)
		return len(p), nil
	}))
	_, _ = io.WriteString(w, s)
	_ = w.Flush()
	return string(out)
}

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
	m := w.m
	delta, classes := m.delta, &m.classes
	row := w.row
	base := w.pos
	for i, b := range p {
		next := delta[row+int32(classes[b])]
		if next < 0 {
			next = ^next
			end := base + int64(i) + 1
			w.addSpan(span{end - int64(m.outLen[next/int32(m.nClasses)]), end})
		}
		row = next
	}
	w.row = row
	w.held = append(w.held, p...)
	w.pos += int64(len(p))
	w.release(w.pos - int64(m.depth[row/int32(m.nClasses)]))
	return len(p), w.err
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
		out = append(out, Replacement...)
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

// Flush writes what is held, masking spans that are complete. Bytes held
// only because they could begin a secret are written as they are, and the
// automaton starts afresh: call it at the end of a stream.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.release(w.pos)
	w.row = 0
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
