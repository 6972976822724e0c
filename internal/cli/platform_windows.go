package cli

// oNoFollow is 0: Windows has no O_NOFOLLOW, and os.Root never leaves its
// root.
const oNoFollow = 0

// canRunPhases refuses `jetway run` on Windows: a project's phases are
// /bin/sh commands. jetway deploy, which runs them on the server's
// runners, works from Windows.
func canRunPhases() error {
	return usageError("jetway run runs the project's phases with /bin/sh on this machine, which Windows lacks: use jetway deploy (the server's runners run them), or jetway run under WSL")
}

// systemRuntimeDir is empty: servers run on Linux only, so a Windows
// client finds none on its own machine.
const systemRuntimeDir = ""

// processAlive is false: see systemRuntimeDir.
func processAlive(int) bool { return false }
