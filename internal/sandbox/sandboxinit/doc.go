// Package sandboxinit is PID 1 of a run's sandbox (see package sandbox):
// it makes the run's mounts, says "ready", then reaps orphans until it is
// killed or its parent closes its stdin.
//
// It is a package of its own, importing only the standard library, for
// the sake of one thing: Go initializes the packages of a binary in the
// order of their import paths, each once its imports are, so this one is
// among the first. Its init turns the process into the sandbox's init
// when it was started as one, before the rest of jetway's packages (the
// AWS SDK's tables, Docker's, BuildKit's and Prometheus's registries, …)
// initialize: that took ~50 ms of CPU for every run, most of what
// starting the init cost.
//
// Usage: the runner starts this binary as
//
//	JETWAY_SANDBOX_INIT=1 jetway sandbox-init DIR
//
// as PID 1 of new PID, mount, IPC and network namespaces; any binary that
// links this package (jetway, test binaries of packages that make
// sandboxes) is the init then, whatever its main does.
package sandboxinit

// Arg is the argument that makes a binary the sandbox's init.
const Arg = "sandbox-init"

// Env marks a process started as an init, so that a binary started with
// Arg by mistake does not act as one.
const Env = "JETWAY_SANDBOX_INIT=1"

// Files in the sandbox directory that the init binds over the machine's
// in the run's mount namespace, when they exist.
const (
	ResolvConf = "resolv.conf" // over /etc/resolv.conf
	Passwd     = "passwd"      // over /etc/passwd: the run user is named only there
	Group      = "group"       // over /etc/group
)

// PrivateDirs get a fresh tmpfs in every sandbox.
var PrivateDirs = []string{"/tmp", "/var/tmp", "/dev/shm"}
