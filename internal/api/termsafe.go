package api

import (
	"io"
	"strings"
)

// TermWriter passes a run's log on to a terminal with its colours and
// nothing else a terminal would act on. A phase runs code of whoever pushed
// to the repository; its output must not set the clipboard (OSC 52), the
// window title (OSC 0 and 2), move the cursor or erase what is on the
// screen (CSI), or start a device control string.
//
// It reads its input as ECMA-48 does and keeps:
//   - text, tab and line feed;
//   - SGR sequences, ESC [ digits;digits m (colours, bold, …), when their
//     parameters are short enough to be real ones.
//
// It removes entirely (every byte of the sequence):
//   - every other CSI sequence (ESC [ … final byte);
//   - control strings: OSC (ESC ]), DCS (ESC P), SOS (ESC X), PM (ESC ^)
//     and APC (ESC _), up to ST (ESC \), BEL, CAN or SUB; a string also
//     ends at a line feed, which is kept, so that an unterminated string
//     cannot hide the rest of the log;
//   - other escape sequences (ESC 7, ESC c, ESC ( B, …);
//   - every other C0 control and DEL, carriage return included;
//   - C1 controls, both as UTF-8 (U+0080–U+009F, which some terminals
//     obey as CSI, OSC, …) and as lone bytes 0x80–0x9F outside a UTF-8
//     character (which 8-bit terminals obey): each is read as its ESC form
//     (0x9B as ESC [, …), so it goes, with its sequence, as that would; an
//     SGR so introduced is passed on in its ESC form.
//
// Since an introducer is never passed on, the terminal stays in its
// ground state whatever the input: all it receives is text and whole SGR
// sequences. A sequence may be cut across writes; the writer keeps its
// state between them, holding at most a short SGR. It is not safe for
// concurrent use.
type TermWriter struct {
	w     io.Writer
	state termState
	sgr   []byte // the CSI being read while it may still be an SGR
	isSGR bool
	c2    bool // a 0xC2 byte is held: with the next byte it may be a C1 control
	cont  int  // continuation bytes the current UTF-8 character still needs
	out   []byte
}

type termState int

const (
	ground    termState = iota
	escape              // after ESC
	escInter            // after ESC and intermediate bytes
	csi                 // in ESC [ …
	ctlString           // in OSC, DCS, SOS, PM or APC
	ctlEscape           // after ESC in a control string: ST if "\"
)

// maxSGR bounds an SGR kept whole: the longest real ones (true colour for
// both grounds, with attributes) are well under it.
const maxSGR = 64

// NewTermWriter returns a writer that passes to w what is safe for a
// terminal. Call Flush at the end of the log.
func NewTermWriter(w io.Writer) *TermWriter {
	return &TermWriter{w: w}
}

// Write filters p and writes the rest to the underlying writer. It returns
// len(p) when that write succeeds, else 0 and its error.
func (t *TermWriter) Write(p []byte) (int, error) {
	t.out = t.out[:0]
	for _, b := range p {
		t.feed(b)
	}
	if len(t.out) > 0 {
		if _, err := t.w.Write(t.out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush ends the log: a held byte that turned out to be text is written,
// and a sequence left unfinished is dropped.
func (t *TermWriter) Flush() error {
	t.out = t.out[:0]
	if t.c2 {
		t.c2 = false
		t.unit(0xc2)
	}
	t.state, t.sgr, t.cont = ground, t.sgr[:0], 0
	if len(t.out) == 0 {
		return nil
	}
	_, err := t.w.Write(t.out)
	return err
}

// TermSafe returns s as a TermWriter would pass it on: for short texts,
// such as a run's reason for failing.
func TermSafe(s string) string {
	var b strings.Builder
	t := NewTermWriter(&b)
	_, _ = t.Write([]byte(s))
	_ = t.Flush()
	return b.String()
}

// feed turns UTF-8 encoded C1 controls (0xC2 0x80–0x9F) into their ESC
// forms and hands every byte on to unit.
func (t *TermWriter) feed(b byte) {
	if t.c2 {
		t.c2 = false
		if b >= 0x80 && b <= 0x9f {
			t.unit(0x1b)
			t.unit(b - 0x40) // C1 0x80+x is ESC 0x40+x
			return
		}
		t.unit(0xc2)
	}
	if b == 0xc2 {
		t.c2 = true
		return
	}
	t.unit(b)
}

func (t *TermWriter) unit(b byte) {
	switch t.state {
	case ground:
		t.text(b)
	case escape:
		switch {
		case b == '[':
			t.state, t.sgr, t.isSGR = csi, append(t.sgr[:0], 0x1b, '['), true
		case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
			t.state = ctlString
		case b == 0x1b:
			// ESC ESC: the first is abandoned.
		case b >= 0x20 && b <= 0x2f:
			t.state = escInter
		case b >= 0x30 && b <= 0x7e:
			t.state = ground // a whole two-byte sequence: dropped
		default:
			t.state = ground
			t.text(b)
		}
	case escInter:
		switch {
		case b >= 0x20 && b <= 0x2f:
		case b >= 0x30 && b <= 0x7e:
			t.state = ground
		default:
			t.state = ground
			t.unit(b)
		}
	case csi:
		switch {
		case b >= 0x30 && b <= 0x3f: // parameter bytes
			if t.isSGR && (b <= '9' || b == ';' || b == ':') && len(t.sgr) < maxSGR {
				t.sgr = append(t.sgr, b)
			} else {
				t.isSGR = false
			}
		case b >= 0x20 && b <= 0x2f: // intermediate bytes
			t.isSGR = false
		case b >= 0x40 && b <= 0x7e: // the final byte
			if t.isSGR && b == 'm' {
				t.out = append(t.out, t.sgr...)
				t.out = append(t.out, 'm')
			}
			t.state = ground
		default:
			// Not part of a CSI: the sequence so far is dropped, and the
			// byte read as if it came first.
			t.state = ground
			t.unit(b)
		}
	case ctlString:
		switch b {
		case 0x1b:
			t.state = ctlEscape
		case 0x07, 0x18, 0x1a: // BEL ends an OSC; CAN and SUB cancel any string
			t.state = ground
		case '\n':
			t.state = ground
			t.out = append(t.out, '\n')
		}
	case ctlEscape:
		if b == '\\' {
			t.state = ground
			return
		}
		t.state = escape
		t.unit(b)
	}
}

// text handles a byte outside any sequence.
func (t *TermWriter) text(b byte) {
	switch {
	case b == 0x1b:
		t.state, t.cont = escape, 0
		return
	case b == '\n' || b == '\t':
		t.cont = 0
	case b < 0x20 || b == 0x7f:
		t.cont = 0
		return
	case b < 0x80:
		t.cont = 0
	case b <= 0xbf: // a continuation byte
		if t.cont > 0 {
			t.cont--
		} else if b <= 0x9f { // a lone C1 control, as an 8-bit terminal reads it
			t.state = escape
			t.unit(b - 0x40)
			return
		}
	case b >= 0xc2 && b <= 0xdf:
		t.cont = 1
	case b >= 0xe0 && b <= 0xef:
		t.cont = 2
	case b >= 0xf0 && b <= 0xf4:
		t.cont = 3
	default:
		t.cont = 0 // never in UTF-8: shown as U+FFFD, harmless
	}
	t.out = append(t.out, b)
}
