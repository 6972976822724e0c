// Package exitcode defines jetway's exit statuses in one place: those of
// every jetway command (package cli, as the README documents them) and
// those a runner reports for its run (package runner), which the CLI
// passes on as its own when it follows a run.
//
//	if err := run(); err != nil {
//		os.Exit(exitcode.Failed)
//	}
package exitcode

const (
	// OK: the command, or the run, succeeded.
	OK = 0
	// Failed: anything else went wrong (a phase failed, a request was
	// refused).
	Failed = 1
	// Usage: bad flags or arguments, or a configuration error (jetway.yaml,
	// a Docker host refused by policy): fixing the input fixes it.
	Usage = 2
	// Unreachable: the server, a parameter store or a Docker host could
	// not be reached.
	Unreachable = 3
	// TimedOut: the run outlived its timeout (as timeout(1)).
	TimedOut = 124
	// Cancelled: cancelled, interrupted (128+SIGINT) or detached.
	Cancelled = 130
)
