package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// runJetway runs the CLI in-process with env as its whole environment.
func runJetway(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = Main(ctx, args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
