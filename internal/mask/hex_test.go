package mask_test

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
)

// hexDumper is a real dump program and where it prints each byte.
type hexDumper struct {
	name  string
	argv  []string
	width int // bytes per line
	// col is the column of the first hex digit of the line's j-th byte.
	col func(j int) int
	// text is the column of the j-th byte in the text column, if the
	// dump has one.
	text func(j int) int
	// whole: the dump shows the secret whole, in one run of hex digits
	// wrapped over lines, so every line's part of it is masked, however
	// short.
	whole bool
}

var hexDumpers = []hexDumper{
	{"xxd -p", []string{"xxd", "-p"}, 30, func(j int) int { return 2 * j }, nil, true},
	{"xxd -p -u", []string{"xxd", "-p", "-u"}, 30, func(j int) int { return 2 * j }, nil, true},
	{"xxd -p -c 12", []string{"xxd", "-p", "-c", "12"}, 12, func(j int) int { return 2 * j }, nil, true},
	{"xxd -p -c 8", []string{"xxd", "-p", "-c", "8"}, 8, func(j int) int { return 2 * j }, nil, true},
	{"od -A n -t x1", []string{"od", "-A", "n", "-t", "x1"}, 16, func(j int) int { return 3*j + 1 }, nil, false},
	{"od -A n -t x1 -w32", []string{"od", "-A", "n", "-t", "x1", "-w32"}, 32, func(j int) int { return 3*j + 1 }, nil, false},
	{"hexdump -C", []string{"hexdump", "-C"}, 16, func(j int) int { return 10 + 3*j + j/8 }, func(j int) int { return 61 + j }, false},
}

// TestHexDumps runs xxd, od and hexdump on blobs that hold a secret at
// every offset within a dump line, and masks what they print in one
// write, one byte at a time and in random writes: on each line that
// shows at least 8 of the secret's bytes (all of them for a shorter
// secret) — or any of them, in a dump that wraps one run of hex digits —
// exactly the columns of the secret's bytes become one [MASKED] (two, on
// either side of the gap, on a line of hexdump -C that holds 16 of them),
// and so does hexdump -C's text column if it shows 8 of them or more;
// other lines are kept as they are.
func TestHexDumps(t *testing.T) {
	secrets := []string{
		readFile(t, "testdata/tools/secret.txt"),
		"ghp_0123456789abcdefABCDEF0123456789abcdefXYZ/long+token=value",
		"s3cr3t",
		"\x01\x02\x03\x04bin\xff\xfe\xfd\xfc\x10\x11key-material\x80\x81\x7f\x1b[0m",
	}
	for _, d := range hexDumpers {
		if _, err := exec.LookPath(d.argv[0]); err != nil {
			t.Fatalf("%s is not installed (scripts/setup.sh installs it): %v", d.argv[0], err)
		}
		for _, secret := range secrets {
			m := mustCompile(t, secret)
			for off := 0; off <= d.width; off++ {
				blob := strings.Repeat("\x00", off) + secret + "\x00 and the bytes after it"
				t.Run(fmt.Sprintf("%s/len=%d/offset=%d", d.name, len(secret), off), func(t *testing.T) {
					cmd := exec.Command(d.argv[0], d.argv[1:]...)
					cmd.Stdin = strings.NewReader(blob)
					out, err := cmd.Output()
					if err != nil {
						t.Fatalf("%s: %v", d.name, err)
					}
					text := string(out)
					want := wantHexDump(t, d, text, blob, off, len(secret))
					checkWrites(t, m, text, want)
				})
			}
		}
	}
}

// wantHexDump is dump text, a dump of a blob with an n-byte secret at
// offset off, masked as TestHexDumps says.
func wantHexDump(t *testing.T, d hexDumper, text, blob string, off, n int) string {
	t.Helper()
	lines := strings.SplitAfter(text, "\n")
	minRun := min(n, 8)
	if d.whole {
		minRun = 1
	}
	for l, line := range lines {
		a, b := max(off, l*d.width), min(off+n, (l+1)*d.width) // the secret's bytes on the line
		if b-a < minRun {
			continue
		}
		start, end := d.col(a-l*d.width), d.col(b-1-l*d.width)+2
		if end > len(line) {
			t.Fatalf("line %d %q is shorter than %s prints", l, line, d.name)
		}
		// The text column shows the secret's printable bytes, others as
		// '.': masked where the line shows 8 of them or more (all of a
		// shorter secret), with the '|' at a side where the secret goes
		// on to another line.
		if la, lb := a-l*d.width, b-l*d.width; d.text != nil && printable(blob[a:b]) >= min(n, 8) {
			from, to := d.text(la), d.text(lb-1)+1
			if la == 0 {
				from--
			}
			if lb == d.width {
				to++
			}
			lines[l] = line[:from] + mask.Replacement + line[to:]
			line = lines[l]
		}
		if d.name == "hexdump -C" && b-a == 16 {
			// 8 bytes of the secret on each side of the gap: masked
			// group by group.
			lines[l] = line[:start] + mask.Replacement + "  " + mask.Replacement + line[end:]
			continue
		}
		lines[l] = line[:start] + mask.Replacement + line[end:]
	}
	return strings.Join(lines, "")
}

// printable counts the bytes of s that a dump's text column shows.
func printable(s string) int {
	n := 0
	for i := range len(s) {
		if ' ' <= s[i] && s[i] <= '~' {
			n++
		}
	}
	return n
}

// checkWrites masks text in one write, one byte at a time, and in random
// writes, and compares each with want.
func checkWrites(t *testing.T, m *mask.Matcher, text, want string) {
	t.Helper()
	ones := make([]int, len(text))
	for i := range ones {
		ones[i] = 1
	}
	all := [][]int{{len(text)}, ones}
	rng := rand.New(rand.NewPCG(uint64(len(text)), 1))
	for range 4 {
		var writes []int
		for rest := len(text); rest > 0; {
			n := 1 + rng.IntN(min(rest, 40))
			writes = append(writes, n)
			rest -= n
		}
		all = append(all, writes)
	}
	for _, writes := range all {
		if got := maskInWrites(t, m, text, writes); got != want {
			t.Fatalf("writes of %v bytes: masked\n%s\n got\n%s\nwant\n%s", writes, text, got, want)
		}
	}
}

// TestHexDumpCutShort: a dump cut short by head shows the start of the
// secret's hex, wrapped: it is masked as far as it goes.
func TestHexDumpCutShort(t *testing.T) {
	const secret = "ghp_0123456789abcdefABCDEF0123456789abcdefXYZ/long+token=value"
	m := mustCompile(t, secret)
	for _, tt := range []struct{ name, script, want string }{
		{"xxd -p -c 16 | head -n 2", `xxd -p -c 16 | head -n 2`,
			"00000000000000000000" + mask.Replacement + "\n" + mask.Replacement + "\n"},
		{"xxd -p -u | head -n 1", `xxd -p -u | head -n 1`,
			"00000000000000000000" + mask.Replacement + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tt.script)
			cmd.Stdin = strings.NewReader(strings.Repeat("\x00", 10) + secret)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", tt.script, err)
			}
			checkWrites(t, m, string(out), tt.want)
		})
	}
}

// TestPercentEncodedEveryByte: URL builders that escape every byte, as
// `xxd -p | sed 's/../%&/g'` does, in both cases of hex digits.
func TestPercentEncodedEveryByte(t *testing.T) {
	secret := readFile(t, "testdata/tools/secret.txt")
	m := mustCompile(t, secret)
	for _, tt := range []struct{ name, script string }{
		{"lower", `xxd -p -c 256 | tr -d '\n' | sed 's/../%&/g'`},
		{"upper", `xxd -p -u -c 256 | tr -d '\n' | sed 's/../%&/g'`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tt.script)
			cmd.Stdin = strings.NewReader(secret)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", tt.script, err)
			}
			if len(out) != 3*len(secret) {
				t.Fatalf("%s printed %q", tt.script, out)
			}
			text := "GET /login?token=" + string(out) + "&next=%2F HTTP/1.1\n"
			checkWrites(t, m, text, "GET /login?token="+mask.Replacement+"&next=%2F HTTP/1.1\n")
		})
	}
}
