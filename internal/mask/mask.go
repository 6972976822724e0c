package mask

import (
	"fmt"
	"io"
	"math"
)

// Replacement is written in place of every masked span.
const Replacement = "[MASKED]"

// MinWrapLine is the shortest line after which a line break may fall
// inside a base64 form: GNU base64 -w accepts narrower widths, but nothing
// prints secrets that way, and a shorter minimum would hold back more
// ordinary lines.
const MinWrapLine = 16

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

// Byte classes of the line-break bytes: every transition on them is marked
// so that the scan stops there and looks for a wrapped base64 form.
const (
	classLF = 1
	classCR = 2
)

// Matcher is a compiled set of secrets. It is immutable and safe for
// concurrent use; each stream needs its own Writer.
type Matcher struct {
	classes  [256]byte
	nClasses int
	// delta[state*nClasses+class] is the next state's row offset
	// (next*nClasses), which saves a multiplication per byte; negative
	// (^offset) when the next state ends a pattern, or the byte is a line
	// break where a wrapped match may start (see breakMarked).
	delta  []int32
	depth  []int32 // length of the state's string
	outLen []int32 // longest pattern that is a suffix of the state's string
	// wrapRow is, per state, the row offset of the state for the longest
	// suffix of its string that begins a wrappable pattern (0 if none).
	wrapRow []int32
	// recip turns a row offset into a state without a division (see
	// state), which the line-break path does a few times per line.
	recip     uint64
	b64Table  [256]bool // isBase64 as a table, for runBefore
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
	// Row offsets are int32: states × classes must stay below 2^31, and
	// there are at most twice as many states as pattern bytes (see
	// addCRTwins).
	if 2*(total+1)*256 >= math.MaxInt32 {
		return nil, fmt.Errorf("the secrets' forms add up to %d bytes; at most %d are supported", total, math.MaxInt32/512-1)
	}
	return compilePatterns(patterns), nil
}

// trieNode is a node of the patterns' trie. Its children are a list
// (first, then each child's sibling; 0 ends it, as the root is no one's
// child): most nodes of long patterns have one child, and a map per node
// made building the automaton for a long secret (an SSH key's forms) cost
// more than a run's other start-up work together.
type trieNode struct {
	first, sibling int32
	class          byte // of the byte leading to the node
	depth          int32
	out            int32
	wrap           bool // the node's string begins a wrappable pattern
}

// child returns the child of nodes[s] on class c, or 0.
func child(nodes []trieNode, s int32, c byte) int32 {
	for n := nodes[s].first; n != 0; n = nodes[n].sibling {
		if nodes[n].class == c {
			return n
		}
	}
	return 0
}

func compilePatterns(patterns [][]byte) *Matcher {
	m := &Matcher{nPatterns: len(patterns)}
	// Byte classes: one per byte that occurs in a pattern, and one each
	// for '\n' and '\r' whether they occur or not.
	var assigned [256]bool
	m.nClasses = 1
	assign := func(b byte) {
		if !assigned[b] {
			assigned[b] = true
			m.classes[b] = byte(m.nClasses)
			m.nClasses++
		}
	}
	assign('\n')
	assign('\r')
	for _, p := range patterns {
		for _, b := range p {
			assign(b)
		}
	}
	if m.nClasses > 256 {
		// Every byte occurs in some pattern: the last one got class
		// byte(256) == 0, which no other byte uses then.
		m.nClasses = 256
	}
	nodes := []trieNode{{}}
	afterCR := 1 // states whose string ends in '\r', and the root: see addCRTwins
	for _, p := range patterns {
		wrap := wrappable(p)
		s := int32(0)
		for _, b := range p {
			c := m.classes[b]
			next := child(nodes, s, c)
			if next == 0 {
				next = int32(len(nodes))
				nodes = append(nodes, trieNode{class: c, sibling: nodes[s].first, depth: nodes[s].depth + 1})
				nodes[s].first = next
				if b == '\r' {
					afterCR++
				}
			}
			s = next
			nodes[s].wrap = nodes[s].wrap || wrap
		}
		nodes[s].out = max(nodes[s].out, int32(len(p)))
	}
	nodes = breadthFirst(nodes)
	n, k := len(nodes), m.nClasses
	m.delta = make([]int32, n*k, (n+afterCR)*k) // room for the twins
	m.depth = make([]int32, n)
	m.outLen = make([]int32, n)
	m.wrapRow = make([]int32, n)
	fail := make([]int32, n)
	// Breadth-first, so a state's fail state is complete before it.
	queue := make([]int32, 0, n)
	for n := nodes[0].first; n != 0; n = nodes[n].sibling {
		m.delta[nodes[n].class] = n
		queue = append(queue, n)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		m.depth[s] = nodes[s].depth
		m.outLen[s] = max(nodes[s].out, m.outLen[fail[s]])
		m.wrapRow[s] = m.wrapRow[fail[s]]
		if nodes[s].wrap {
			m.wrapRow[s] = s
		}
		// The row is the fail state's, but where the trie goes on.
		row := m.delta[int(s)*k : int(s+1)*k]
		copy(row, m.delta[int(fail[s])*k:int(fail[s]+1)*k])
		for n := nodes[s].first; n != 0; n = nodes[n].sibling {
			c := nodes[n].class
			fail[n] = row[c]
			row[c] = n
			queue = append(queue, n)
		}
	}
	m.addCRTwins()
	// Store row offsets; mark transitions into pattern-ending states, and
	// the line breaks where a wrapped match may start.
	for i, next := range m.delta {
		m.delta[i] = next * int32(k)
		if m.outLen[next] > 0 || m.breakMarked(int32(i/k), i%k, n) {
			m.delta[i] = ^m.delta[i]
		}
	}
	for i := range m.wrapRow {
		m.wrapRow[i] *= int32(k)
	}
	m.recip = (1<<32 + uint64(k) - 1) / uint64(k)
	for b := range m.b64Table {
		m.b64Table[b] = isBase64(byte(b))
	}
	return m
}

// breadthFirst renumbers the trie's nodes in breadth-first order. The
// scan spends nearly all its time in the root and the states a byte or
// two deep; numbered as the patterns created them, their rows lie all
// over the table, a page apart when the table is large, and each costs a
// cache and TLB miss. Numbered breadth-first, they fill its first pages.
func breadthFirst(nodes []trieNode) []trieNode {
	order := make([]int32, 1, len(nodes))
	for i := 0; i < len(order); i++ {
		for n := nodes[order[i]].first; n != 0; n = nodes[n].sibling {
			order = append(order, n)
		}
	}
	id := make([]int32, len(nodes))
	for i, old := range order {
		id[old] = int32(i)
	}
	out := make([]trieNode, len(nodes))
	for i, old := range order {
		out[i] = nodes[old]
		// 0 stays 0: the root is no one's child or sibling.
		out[i].first, out[i].sibling = id[out[i].first], id[out[i].sibling]
	}
	return out
}

// state returns the state whose row starts at offset row. With
// recip = ceil(2^32/k) = (2^32+r)/k for some r < k, and row = s*k,
// row*recip>>32 = s + s*r>>32, which is s since s*k < 2^31.
func (m *Matcher) state(row int32) int32 {
	return int32(uint64(row) * m.recip >> 32)
}

// wrapDepth is the length of the longest suffix of the string of the
// state at row that begins a wrappable pattern.
func (m *Matcher) wrapDepth(row int32) int32 {
	return m.depth[m.state(m.wrapRow[m.state(row)])]
}

// addCRTwins gives the target of each '\r' transition out of a state whose
// string ends with the start of a wrappable pattern a twin: a copy of the
// target's row whose '\n' transition is marked, so that "\r\n" stops the
// scan there and nowhere else.
func (m *Matcher) addCRTwins() {
	k := m.nClasses
	n := int32(len(m.depth))
	twins := map[int32]int32{}
	for s := range n {
		if m.wrapRow[s] == 0 {
			continue
		}
		t := m.delta[int(s)*k+classCR]
		twin, ok := twins[t]
		if !ok {
			twin = int32(len(m.depth))
			twins[t] = twin
			m.delta = append(m.delta, m.delta[int(t)*k:int(t+1)*k]...)
			m.depth = append(m.depth, m.depth[t])
			m.outLen = append(m.outLen, m.outLen[t])
			m.wrapRow = append(m.wrapRow, m.wrapRow[t])
		}
		m.delta[int(s)*k+classCR] = twin
	}
}

// breakMarked tells whether the transition on class c out of state s stops
// the scan for a line break: '\r' and '\n' after the start of a wrappable
// pattern, and '\n' out of a twin (states from n on).
func (m *Matcher) breakMarked(s int32, c int, n int) bool {
	switch c {
	case classCR:
		return m.wrapRow[s] != 0
	case classLF:
		return m.wrapRow[s] != 0 || int(s) >= n
	}
	return false
}

// Patterns is the number of byte strings the matcher looks for.
func (m *Matcher) Patterns() int { return m.nPatterns }

// TableBytes is the memory the automaton's tables take.
func (m *Matcher) TableBytes() int {
	return 4 * (len(m.delta) + len(m.depth) + len(m.outLen) + len(m.wrapRow))
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
