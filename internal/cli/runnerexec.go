package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/bundle"
	"github.com/jetway-dev/jetway/internal/config"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/runner"
)

// newRunnerExecCommand is what the server's executor starts for each run.
// It talks to the server over HTTP only, with the run token.
func newRunnerExecCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:    "runner-exec",
		Short:  "Execute one run for the server (started by the server's executor)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRunnerExec(cmd.Context(), c)
		},
	}
}

func runRunnerExec(ctx context.Context, c *CLI) error {
	server, id, token := c.Getenv("JETWAY_SERVER"), c.Getenv("JETWAY_RUN_ID"), c.Getenv("JETWAY_RUN_TOKEN")
	if server == "" || id == "" || token == "" {
		return usageError("runner-exec needs JETWAY_SERVER, JETWAY_RUN_ID and JETWAY_RUN_TOKEN; it is started by `jetway server`")
	}
	sbConfig, err := sandboxConfigFromEnv(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	client := apiclient.New(server, token)
	base := "/v1/runs/" + url.PathEscape(id)
	var spec api.RunSpec
	if err := client.Do(ctx, http.MethodGet, base+"/spec", nil, nil, &spec); err != nil {
		return clientError(err)
	}
	src, err := os.MkdirTemp("", "jetway-bundle-"+id+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	resp, err := client.Stream(ctx, http.MethodGet, base+"/bundle", nil, nil, nil)
	if err != nil {
		return clientError(err)
	}
	err = bundle.Extract(resp.Body, src)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("unpacking the bundle: %w", err)
	}
	sink := &httpSink{client: client, path: base + "/events"}
	defer sink.Close()
	project, err := config.Parse(config.FileName, []byte(spec.ProjectFile))
	if err != nil {
		sink.Emit(api.Event{Type: "error", Message: err.Error()})
		sink.Emit(api.Event{Type: "summary", Summary: &api.Summary{RunID: id, Status: api.StatusFailed, ExitCode: ExitUsage, Error: err.Error()}})
		return err
	}
	var clientEnv []string
	for k, v := range spec.Pass {
		clientEnv = append(clientEnv, k+"="+v)
	}
	runner.Run(ctx, runner.Options{
		SourceDir: src,
		Project:   project,
		Env:       spec.Env,
		RunID:     id,
		Resolve: func(ctx context.Context, refs []config.Ref) (map[config.Ref]params.Resolved, error) {
			return client.Resolve(ctx, c.Getenv("JETWAY_SSM_ENDPOINT"), refs)
		},
		ClientEnv: clientEnv,
		PhaseEnv:  phaseBaseEnv(c),
		Sink:      sink,
		Logger:    c.Logger(),
		Sandbox:   sbConfig,
		// The server's runners run next to the server's secrets.
		RefuseLocalDocker: c.Getenv("JETWAY_REFUSE_LOCAL_DOCKER") == "1",
	})
	return nil
}

// httpSink sends events to the server in batches: at most every 200 ms,
// and at once for the summary.
type httpSink struct {
	client  *apiclient.Client
	path    string
	mu      sync.Mutex
	pending []api.Event
	timer   *time.Timer
}

func (s *httpSink) Emit(e api.Event) {
	s.mu.Lock()
	s.pending = append(s.pending, e)
	final := e.Type == "summary"
	if !final && s.timer == nil {
		s.timer = time.AfterFunc(200*time.Millisecond, s.flush)
	}
	s.mu.Unlock()
	if final || len(s.pending) >= 500 {
		s.flush()
	}
}

func (s *httpSink) flush() {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	body, _ := json.Marshal(batch)
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := s.client.Stream(ctx, http.MethodPost, s.path, nil, bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
		cancel()
		if err == nil {
			resp.Body.Close()
			return
		}
		if se, ok := err.(*apiclient.StatusError); ok && se.Status < 500 {
			fmt.Fprintln(os.Stderr, "jetway runner: the server refused events:", strings.TrimSpace(se.Message))
			return
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "jetway runner: could not deliver", len(batch), "events")
}

func (s *httpSink) Close() { s.flush() }
