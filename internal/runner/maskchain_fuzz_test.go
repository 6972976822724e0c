package runner

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/mask"
	"github.com/jetway-dev/jetway/internal/mask/masktest"
)

// chainSeed is a seed in testdata/FuzzMaskChain: what it covers, and the
// fuzz arguments (plan as numbers, since JSON strings cannot hold 0xff).
type chainSeed struct {
	Why    string `json:"why"`
	Secret string `json:"secret"`
	Output string `json:"output"`
	Plan   []byte `json:"plan"`
	Seed   uint64 `json:"seed"`
}

// UnmarshalJSON reads plan as an array of numbers.
func (s *chainSeed) UnmarshalJSON(b []byte) error {
	type plain chainSeed
	var v struct {
		plain
		Plan []int `json:"plan"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = chainSeed(v.plain)
	for _, p := range v.Plan {
		s.Plan = append(s.Plan, byte(p))
	}
	return nil
}

// planFlush in a plan ends a command: the runner flushes the chain after
// each one.
const planFlush = 0xff

// FuzzMaskChain drives every writer between a phase's output and the
// stored log as the runner wires them (execute: lockedWriter → mask.Writer
// → lineWriter → log events → Sink; runCommands: flush after each
// command). Each command prints random text and renderings of random
// secrets, chosen by plan (per byte: 0xff ends the command; else byte%4
// is 0 a form, 1 wrapped base64, 2 a form cut short, 3 output verbatim,
// and byte/4 picks the secret), in random chunks. The log, rebuilt from
// the events, must equal the whole-buffer model's masking of each command,
// show no form of any secret, and mask every secret printed.
func FuzzMaskChain(f *testing.F) {
	files, err := filepath.Glob("testdata/FuzzMaskChain/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/FuzzMaskChain: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var s chainSeed
		if err := json.Unmarshal(b, &s); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		f.Add([]byte(s.Secret), []byte(s.Output), s.Plan, s.Seed)
	}
	f.Fuzz(func(t *testing.T, secret, output, plan []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(len(secret))))
		var secrets []mask.Secret
		if len(secret) >= mask.MinSecretLen && len(secret) <= 200 {
			secrets = append(secrets, mask.Secret{Name: "FUZZ", Value: secret})
		}
		for n := rng.IntN(3); n >= 0; n-- {
			secrets = append(secrets, mask.Secret{Name: "RAND", Value: masktest.Secret(rng)})
		}
		m, err := mask.Compile(secrets)
		if err != nil {
			t.Fatal(err)
		}
		var forms [][]byte
		for _, s := range secrets {
			forms = append(forms, mask.Forms(s.Value)...)
		}
		if len(plan) == 0 {
			for range 1 + rng.IntN(12) {
				plan = append(plan, byte(rng.IntN(256)))
			}
		}
		// Bounded, since the model is slow: 32 renderings of at most 4 KiB.
		plan = plan[:min(len(plan), 32)]
		output = output[:min(len(output), 4<<10)]

		// The commands' outputs, and in each the spans that show a secret.
		commands := [][]byte{nil}
		musts := [][]masktest.Span{nil}
		for _, c := range plan {
			cur := len(commands) - 1
			if c == planFlush {
				commands, musts = append(commands, nil), append(musts, nil)
				continue
			}
			var r masktest.Rendering
			if c%4 == 3 {
				r.Text = output
			} else {
				if len(output) > 0 && rng.IntN(2) == 0 {
					a := rng.IntN(len(output))
					commands[cur] = append(commands[cur], output[a:a+rng.IntN(min(len(output)-a, 200)+1)]...)
				}
				r = masktest.Render(rng, secrets[int(c/4)%len(secrets)].Value, int(c%4))
			}
			at := len(commands[cur])
			musts[cur] = append(musts[cur], masktest.Span{Start: at + r.Must.Start, End: at + r.Must.End})
			commands[cur] = append(commands[cur], r.Text...)
		}

		// The chain as execute builds it.
		sink := &chainSink{}
		r := &run{opts: Options{Sink: sink}}
		r.matcher.Store(m)
		r.wireLog()
		r.lines.setPhase("build")
		var ends []int // events emitted by the end of each command
		for _, cmd := range commands {
			for rest := cmd; len(rest) > 0; {
				n := 1 + rng.IntN(min(len(rest), 1+rng.IntN(64)))
				if rng.IntN(8) == 0 {
					n = len(rest) // a whole pipe read
				}
				if k, err := r.out.Write(rest[:n]); k != n || err != nil {
					t.Fatalf("Write = %d, %v", k, err)
				}
				rest = rest[n:]
			}
			r.flush()
			ends = append(ends, len(sink.events))
		}

		start := 0
		for i, cmd := range commands {
			got := sink.text(t, start, ends[i])
			start = ends[i]
			want := masktest.Mask(forms, cmd)
			wantLog := string(want.Out)
			if wantLog != "" && !strings.HasSuffix(wantLog, "\n") {
				wantLog += "\n" // a partial last line is flushed as a line
			}
			if got != wantLog {
				t.Fatalf("command %d printed %q\nlog  %q\nwant %q", i, cmd, got, wantLog)
			}
			// What the log shows of the command, without the line end a
			// flush adds: no form of a secret, forms of line breaks alone
			// aside (masking keeps line breaks).
			shown := got
			if !bytes.HasSuffix(want.Out, []byte("\n")) {
				shown = strings.TrimSuffix(got, "\n")
			}
			for _, piece := range strings.Split(shown, mask.Replacement) {
				for _, form := range forms {
					if strings.Trim(string(form), "\r\n") != "" && strings.Contains(piece, string(form)) {
						t.Fatalf("command %d printed %q: the log shows %q", i, cmd, form)
					}
				}
			}
			for _, s := range musts[i] {
				if !want.Covers(s) {
					t.Fatalf("command %d printed %q: %q at %d is not masked", i, cmd, cmd[s.Start:s.End], s.Start)
				}
			}
		}
	})
}

// chainSink keeps the events the run emits.
type chainSink struct {
	events []Event
}

func (s *chainSink) Emit(e Event) { s.events = append(s.events, e) }

// text rebuilds the log from events[from:to]: each event is a line, or a
// piece of one when marked Continued.
func (s *chainSink) text(t *testing.T, from, to int) string {
	t.Helper()
	var b bytes.Buffer
	for _, e := range s.events[from:to] {
		if e.Type != "log" || e.Phase != "build" {
			t.Fatalf("event %+v, want a log line of phase build", e)
		}
		b.WriteString(e.Message)
		if !e.Continued {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
