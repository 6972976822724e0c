package mask

// crMark is what a line break needs to know about a '\r' before its '\n'.
type crMark struct {
	next int64 // offset after the '\r'; 0 when there is none
	row  int32 // the automaton's state before it
	run  int   // the base64 run before it
}

// wrapScan follows a wrappable pattern across line breaks: a second run of
// the same automaton over the text with those breaks left out. It is on
// only while the pattern prefix it follows spans a break, which is a few
// bytes after most breaks.
type wrapScan struct {
	on     bool
	row    int32       // state over the text without the skipped breaks
	since  int32       // characters read since the last skipped break
	cr     bool        // the last byte read was a '\r'
	crRun  int         // the base64 run before that '\r'
	breaks []lineBreak // skipped breaks, oldest first
}

// lineBreak is a skipped "\n" or "\r\n" at stream offsets [start, end).
type lineBreak struct{ start, end int64 }

// startWrap begins a wrapped match at the line break that ends at p[i],
// if the line before it is wrapped base64 and ends with the start of a
// wrappable pattern.
func (w *Writer) startWrap(p []byte, i int, off int64) {
	m := w.m
	brk, row := lineBreak{off, off + 1}, w.row
	crlf := w.cr.next == off && off > 0
	if crlf {
		brk.start, row = off-1, w.cr.row
	}
	s := m.wrapRow[m.state(row)]
	if s == 0 {
		return
	}
	if crlf && w.cr.run < MinWrapLine || !crlf && w.runBefore(p, i) < MinWrapLine {
		return
	}
	w.wrap = wrapScan{on: true, row: s, breaks: append(w.wrap.breaks[:0], brk)}
}

// scanWrapped feeds p[i:] through the automaton, and through the wrapped
// match's second run, until p ends or the wrapped match ends.
func (w *Writer) scanWrapped(p []byte, i int) int {
	m := w.m
	for ; i < len(p) && w.wrap.on; i++ {
		b := p[i]
		off := w.pos + int64(i)
		if next := m.delta[w.row+int32(m.classes[b])]; next < 0 {
			w.step(p, i, ^next)
		} else {
			w.row = next
		}
		ws := &w.wrap
		switch {
		case ws.cr:
			ws.cr = false
			if b == '\n' {
				w.skipBreak(lineBreak{off - 1, off + 1}, ws.crRun)
			} else {
				w.stopWrap()
			}
		case b == '\r':
			ws.cr, ws.crRun = true, w.runBefore(p, i)
		case b == '\n':
			w.skipBreak(lineBreak{off, off + 1}, w.runBefore(p, i))
		case isBase64(b) || b == '=':
			s := m.delta[ws.row+int32(m.classes[b])]
			if s < 0 {
				s = ^s
			}
			ws.row = s
			ws.since++
			if n := m.outLen[m.state(s)]; n > 0 {
				w.addSpan(span{ws.start(off+1, n), off + 1})
			}
			// Once the pattern prefix lies after the last break, the
			// automaton over the stream itself follows it.
			if m.wrapDepth(s) <= ws.since {
				w.stopWrap()
			}
		default:
			w.stopWrap()
		}
	}
	return i
}

// skipBreak continues the wrapped match across a line break if the line
// before it is wrapped base64.
func (w *Writer) skipBreak(brk lineBreak, run int) {
	m := w.m
	ws := &w.wrap
	s := m.wrapRow[m.state(ws.row)]
	if run < MinWrapLine || s == 0 {
		w.stopWrap()
		return
	}
	// Forget the breaks before the start of the pattern prefix.
	first := ws.start(brk.start, m.depth[m.state(s)])
	n := 0
	for n < len(ws.breaks) && ws.breaks[n].end <= first {
		n++
	}
	ws.breaks = append(ws.breaks[:copy(ws.breaks, ws.breaks[n:])], brk)
	ws.row, ws.since = s, 0
}

func (w *Writer) stopWrap() {
	w.wrap = wrapScan{breaks: w.wrap.breaks[:0]}
}

// start returns the stream offset where the last n characters before
// offset end begin, counting over the skipped breaks.
func (ws *wrapScan) start(end int64, n int32) int64 {
	rem := int64(n)
	for j := len(ws.breaks) - 1; j >= 0; j-- {
		b := ws.breaks[j]
		if b.end > end {
			continue
		}
		gap := end - b.end
		if rem <= gap {
			break
		}
		rem -= gap
		end = b.start
	}
	return end - rem
}

// runBefore returns how many base64 characters, up to MinWrapLine, end the
// stream before p[i].
func (w *Writer) runBefore(p []byte, i int) int {
	isB64 := &w.m.b64Table
	n := 0
	for j := i - 1; j >= 0 && n < MinWrapLine; j-- {
		if !isB64[p[j]] {
			return n
		}
		n++
	}
	return min(n+w.run, MinWrapLine)
}

// Bit sets of the base64 and base64url characters, padding aside: what
// the lines of a wrapped encoding are made of.
const (
	base64Lo = 1<<'+' | 1<<'-' | 1<<'/' | (1<<10-1)<<'0'               // bytes 0-63
	base64Hi = (1<<26-1)<<('A'-64) | 1<<('_'-64) | (1<<26-1)<<('a'-64) // bytes 64-127
)

func isBase64(b byte) bool {
	if b < 64 {
		return base64Lo>>b&1 != 0
	}
	return b < 128 && base64Hi>>(b-64)&1 != 0
}

// wrappable tells whether a pattern is made of base64 characters and
// padding only, so that it may be found with line breaks inside.
func wrappable(p []byte) bool {
	for _, b := range p {
		if !isBase64(b) && b != '=' {
			return false
		}
	}
	return true
}
