// Package mask redacts secrets from a stream of bytes, however the stream
// is cut into writes.
//
// # Forms
//
// A secret is masked wherever one of its forms shows (Forms returns them).
// The last column says which peers mask the same form, as far as their
// code and documentation show: GitLab Runner's masker, GitHub Actions
// (secrets and add-mask), Jenkins credentials binding, CircleCI and
// Buildkite's redactor. All five mask the raw value; only GitHub Actions
// and Jenkins go further.
//
//	form                                        printed by                      also masked by
//	the value, and the value trimmed            echo, env, set -x               all five
//	each line (8 bytes or more) of a            cat id_rsa, echo "$KEY" | head  GitHub
//	  multi-line value
//	base64 and base64url at the 3 byte          base64, Basic auth, Docker's    GitHub, Jenkins
//	  alignments, of the value and of the        config.json                    (standard base64)
//	  value with a newline
//	the same wrapped at any width from 16,      base64 (-w N), openssl base64,  none
//	  with "\n" or "\r\n", at any alignment      PEM and MIME bodies
//	each line of its base64 wrapped at 76       base64 FILE | head              none
//	  and at 64 columns
//	hex, lower and upper case, and its          xxd -p (-c N, -u), Go %x,       none
//	  prefixes of 8 bytes or more, wrapped as     hexdump -ve '1/1 "%02x"'
//	  xxd -p wraps it (see below)
//	every run of 8 bytes (all of a shorter      od -A n -t x1, hexdump -C       none
//	  value) as hex bytes split by spaces, and
//	  the lines of hexdump -C that show 8 or
//	  more with its gap of two spaces between
//	the text column of hexdump -C: where the    hexdump -C                      none
//	  value starts, ends or fills a line of 16,
//	  with the '|', if it shows 8 bytes or more
//	  of the value as they are
//	URL encoding of every byte (%41%42),        URL builders that escape all,   none
//	  upper- and lower-case hex                   xxd -p | sed 's/../%&/g'
//	URL encoding, RFC 3986 (space as %20)       curl --data-urlencode, .NET,    GitHub
//	                                              Python quote(s, safe='')
//	URL encoding, space as '+'                  Go QueryEscape, quote_plus      none
//	URL encoding keeping '/'                    Python quote                    none
//	URL path segment                            Go PathEscape                   none
//	encodeURIComponent, encodeURI               JavaScript                      none
//	  (all URL forms also in lower-case hex)
//	JSON string: minimal, Go's (\u003c), \/     JSON encoders, PHP              GitHub (minimal)
//	HTML/XML text: &amp; &lt; &gt;, with the     html.escape, Go html, XML,      GitHub (&quot; &apos;)
//	  quotes as &quot; &#34; &#39; &#x27;        Ruby, PHP, Jinja
//	  &#039; &apos;, '+' as &#43;
//
// Hex dumps split the value over lines: a wrapped dump (xxd -p) is
// masked as wrapped base64 is, since hex digits are base64 characters,
// provided its lines are 16 digits or more (xxd -p -c N for N >= 8), and
// a dump cut short (xxd -p | head) as far as it goes. In dumps split by
// spaces (od, hexdump -C), a line is masked if it shows at least 8 of the
// value's bytes in order (all of a shorter value): a line that shows its
// first or last few bytes only, fewer than 8, shows them in clear; a line
// of hexdump -C with 8 of them on each side of the gap becomes
// "[MASKED]  [MASKED]". Fewer than 8 bytes (64 bits) of hex would begin
// to match other dumps by chance, and every such run costs the automaton
// states: the hex forms make it about 4.5 times as large (67 MiB for 100
// secrets of 8 to 64 bytes).
//
// Not masked: shell-quoted forms (Jenkins masks bash, ash and batch
// quoting), GitHub's expression escaping, xxd's default layout (groups
// of two bytes, 4142 4344, and a text column without delimiters), a line of xxd -p cut out of the middle
// of a dump, octal and decimal dumps, encodings of the secret mixed
// with other text (only the characters that depend on the secret alone
// are masked, so 4 bits at each end of a base64 form may show), and
// anything encrypted, hashed, reversed or split by a program on purpose.
//
// # Algorithm
//
// Compile turns every form of every secret into one Aho-Corasick
// automaton, stored as a dense DFA over byte classes: each byte that
// occurs in some pattern has a class of its own, '\n' and '\r' have one
// each, all other bytes share class 0, so the table has (states × classes)
// entries and memory stays linear in the total length of the patterns. A
// state whose string ends with a pattern is marked by a negative table
// entry and knows the length of the longest such pattern, so the scan
// costs one table load and one sign test per byte. States are numbered
// breadth-first: the scan spends nearly all its time within a byte or two
// of the root, and those rows then fill the table's first pages instead
// of lying a page apart all over it.
//
// A Writer feeds every byte through the DFA once. When a pattern ends, its
// span joins the pending masked spans (spans that overlap merge, so the
// longest match wins and no part of any overlapping secret is shown). After
// each Write, the automaton's depth — the longest suffix of the input that
// is still the start of some pattern — marks the only bytes that a later
// write could turn into a secret: everything before them is final and is
// written downstream at once. A line in which no secret can start is
// therefore released as soon as it is written, and live logs stay live.
// Close (or Flush) releases what is held.
//
// Wrapped base64: a pattern made only of base64 characters and '=' is also
// found with a line break ("\n" or "\r\n") between any two of its
// characters, provided the line before the break ends with at least
// MinWrapLine base64 characters, as every line of `base64 -w N` does for
// N >= MinWrapLine. The automaton's state says which suffix of the text
// begins a wrappable pattern (a table per state). Only the transitions on
// '\r' and '\n' out of states where one does are marked like matches, so
// the scan stops at those breaks alone (for "\r\n", the state after such
// a '\r' is a copy of its target whose '\n' is marked). There, if the line
// qualifies, a second run of the same automaton continues from that state
// over the following bytes with the break left out. It ends at the first
// byte that is neither a base64 character nor a qualifying break, or as
// soon as the pattern prefix it follows lies after the last break, where
// the first run sees it whole: after most breaks, a byte or two later.
// The second run's state is held back like the first's, and its matches
// are mapped back to stream offsets over the breaks it skipped. Memory
// stays linear: two more entries per state, and the breaks of one match.
// The price in liveness: a line that ends with 16 or more base64
// characters, the last of which could begin a secret's encoding, waits
// for the first bytes of the next line.
//
// A masked span keeps its line breaks: each run of other bytes in it
// becomes one [MASKED], so a secret that ends in a newline, or a wrapped
// encoding over several lines, does not join the lines around it.
//
// Hand-written because no maintained Go library streams multi-pattern
// redaction across write boundaries; the design follows GitLab Runner's
// masker (buffer only a possible prefix) with an automaton instead of one
// matcher per secret.
//
// Package masktest holds a slow, obvious model of this package for tests.
package mask
