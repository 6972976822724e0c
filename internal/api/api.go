// Package api holds the wire types of jetway's /v1 HTTP API: the contract
// between the server and its clients (the CLI and runners), which never
// import each other.
package api

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ParamInfo is a parameter as the API shows it; Value only on request.
type ParamInfo struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Version      int64     `json:"version"`
	LastModified time.Time `json:"last_modified"`
	Description  string    `json:"description,omitempty"`
	// Tags are the parameter's tags, by key.
	Tags  map[string]string `json:"tags,omitempty"`
	Value *string           `json:"value,omitempty"`
}

// SecretInfo is a Secrets Manager secret as the dashboard lists it: never
// a value.
type SecretInfo struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Changed     time.Time         `json:"changed"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Deleted is when a secret scheduled for deletion goes; nil otherwise.
	Deleted *time.Time `json:"deleted,omitempty"`
}

// PutParamRequest is the body of POST /v1/params.
type PutParamRequest struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	Overwrite   bool   `json:"overwrite"`
}

// CredentialsRequest is the body of POST /v1/credentials: the parameters
// and secrets the key pair may read.
type CredentialsRequest struct {
	Parameters []string `json:"parameters"`
	Secrets    []string `json:"secrets"`
	TTLSeconds int      `json:"ttl_seconds,omitempty"`
}

// Credentials is a short-lived key pair for the AWS-compatible APIs.
type Credentials struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	Expiration      time.Time `json:"expiration"`
	Region          string    `json:"region"`
}

// Event is one thing a run reports: a log line, a phase starting or ending,
// a bootstrap step, a build step, the summary. Every text in it has passed
// the runner's masker.
type Event struct {
	// Seq numbers a run's events 1, 2, 3… in the order they happened; the
	// server stores each number once, so a resent batch is not doubled.
	Seq     int64     `json:"seq,omitempty"`
	Type    string    `json:"type"` // log, bootstrap, command, phase_started, phase_finished, step, warning, error, summary
	Time    time.Time `json:"time"`
	Phase   string    `json:"phase,omitempty"`
	Status  string    `json:"status,omitempty"`
	Message string    `json:"message,omitempty"`
	// Continued marks a piece of an over-long log line: the line goes on
	// in the next log event. The runner cuts lines so that no event, batch
	// or stored chunk has to hold a line of any length.
	Continued bool          `json:"continued,omitempty"`
	Duration  time.Duration `json:"duration_ns,omitempty"`
	Step      *Step         `json:"step,omitempty"`
	Summary   *Summary      `json:"summary,omitempty"`
}

// Step is one Dockerfile instruction as the builder ran it.
type Step struct {
	Number      int           `json:"number"`
	Instruction string        `json:"instruction"`
	Cached      bool          `json:"cached"`
	Cacheable   bool          `json:"cacheable"` // FROM and global ARG never are
	Duration    time.Duration `json:"duration_ns"`
}

// BuildResult is what an image build produced.
type BuildResult struct {
	ImageID  string        `json:"image_id"`
	Steps    []Step        `json:"steps"`
	Duration time.Duration `json:"duration_ns"`
	// ContextBytes is how much build context went to the Docker host:
	// the bytes of the session (BuildKit) or of the context's tar
	// (classic).
	ContextBytes int64 `json:"context_bytes,omitempty"`
}

// CacheHits counts the cached steps among those that could be cached.
func (r *BuildResult) CacheHits() (cached, cacheable int) {
	if r == nil {
		return 0, 0
	}
	for _, s := range r.Steps {
		if s.Cacheable {
			cacheable++
			if s.Cached {
				cached++
			}
		}
	}
	return cached, cacheable
}

// PhaseResult records one phase.
type PhaseResult struct {
	Name     string        `json:"name"`
	Status   string        `json:"status"` // succeeded, failed, skipped, cancelled, timed_out
	Duration time.Duration `json:"duration_ns"`
}

// Git is what a run records of the source's checkout.
type Git struct {
	SHA    string `json:"sha,omitempty"`
	Branch string `json:"branch,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
}

// DockerHostReport is what a runner learned about its Docker host.
type DockerHostReport struct {
	Host          string `json:"host"`
	ServerVersion string `json:"server_version"`
	APIVersion    string `json:"api_version"`
	OS            string `json:"os"`
	Architecture  string `json:"architecture"`
	KernelVersion string `json:"kernel_version"`
	StorageDriver string `json:"storage_driver"`
	CPUs          int    `json:"cpus"`
	MemoryBytes   int64  `json:"memory_bytes"`
	Images        int    `json:"images"`
	ImagesBytes   int64  `json:"images_bytes"`
	BuildCache    int64  `json:"build_cache_bytes"`
	// DiskUsageError says why Images and BuildCache are unknown.
	DiskUsageError string        `json:"disk_usage_error,omitempty"`
	Connect        time.Duration `json:"connect_ns"`
	Latency        time.Duration `json:"ping_latency_ns"`
}

// Summary is the outcome of a run.
type Summary struct {
	RunID        string        `json:"run_id"`
	Project      string        `json:"project"`
	Status       string        `json:"status"`
	ExitCode     int           `json:"exit_code"`
	Error        string        `json:"error,omitempty"`
	Git          Git           `json:"git"`
	Phases       []PhaseResult `json:"phases"`
	Build        *BuildResult  `json:"build,omitempty"`
	Image        string        `json:"image,omitempty"`
	Tags         []string      `json:"tags,omitempty"`
	Digest       string        `json:"digest,omitempty"`
	PushDuration time.Duration `json:"push_duration_ns,omitempty"`
	// DockerHostURL is the run's DOCKER_HOST (masked if it is a secret);
	// DockerHost is what the runner found there, nil if it was unreachable.
	DockerHostURL string            `json:"docker_host_url,omitempty"`
	DockerHost    *DockerHostReport `json:"docker_host,omitempty"`
	// DockerHostName is the pool's host the run built on, and
	// DockerHostChoice says how it came to it ("b2 (b1: connection
	// refused)"); both empty outside a pool.
	DockerHostName   string `json:"docker_host_name,omitempty"`
	DockerHostChoice string `json:"docker_host_choice,omitempty"`
	// GC are the garbage collections the runner ran on the pool's host
	// (before the build, after the run).
	GC       []GCReport    `json:"gc,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Run states.
const (
	StatusQueued       = "queued"
	StatusProvisioning = "provisioning"
	StatusRunning      = "running"
	StatusSucceeded    = "succeeded"
	StatusFailed       = "failed"
	StatusCancelled    = "cancelled"
	StatusTimedOut     = "timed_out"
)

// Finished tells whether a run status is final.
func Finished(status string) bool {
	switch status {
	case StatusSucceeded, StatusFailed, StatusCancelled, StatusTimedOut:
		return true
	}
	return false
}

// ExitCode is the CLI's exit status for a final run status.
func ExitCode(status string) int {
	switch status {
	case StatusSucceeded:
		return 0
	case StatusTimedOut:
		return 124
	case StatusCancelled:
		return 130
	}
	return 1
}

// Run is a run as the API shows it.
type Run struct {
	ID         string     `json:"id"`
	Project    string     `json:"project"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason,omitempty"`
	Env        string     `json:"env,omitempty"`
	StartedBy  string     `json:"started_by,omitempty"`
	Git        Git        `json:"git"`
	Bundle     string     `json:"bundle"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Summary    *Summary   `json:"summary,omitempty"`
	// Agent is the agent that executes or executed the run ("local" for
	// the server's own).
	Agent string `json:"agent,omitempty"`
	// RerunOf is the run this one reruns (jetway rerun), or "".
	RerunOf string `json:"rerun_of,omitempty"`
	// Vars are the variables given for this run only (jetway deploy -e),
	// as they may be shown: references as written, plain values of
	// secret-looking names as [MASKED].
	Vars map[string]string `json:"vars,omitempty"`
	// Artifacts are the files the runner kept (GET /v1/runs/{id} only).
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// Docker is the Docker host policy the run was given, once a runner
	// fetched its spec; nil before.
	Docker *DockerPolicy `json:"docker,omitempty"`
	// Token is the name of the API token that started the run (jetway
	// tokens; "admin" for the server's own token).
	Token string `json:"token,omitempty"`
}

// Duration is how long the run has run (so far).
func (r Run) Duration() time.Duration {
	if r.StartedAt == nil {
		return 0
	}
	end := time.Now()
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(*r.StartedAt)
}

// NewRunRequest is the body of POST /v1/runs. It carries references, never
// secret values: ProjectFile is jetway.yaml as the user wrote it, and Pass
// holds the plain values that env.pass copies from the client.
type NewRunRequest struct {
	ProjectFile string            `json:"project_file"`
	Env         string            `json:"env,omitempty"`
	Bundle      string            `json:"bundle"`
	Git         Git               `json:"git"`
	Pass        map[string]string `json:"pass,omitempty"`
	StartedBy   string            `json:"started_by,omitempty"`
	// Vars add to or override the project's env.vars for this run only
	// (jetway deploy -e NAME=VALUE); values may be references.
	Vars map[string]string `json:"vars,omitempty"`
}

// RerunRequest is the body of POST /v1/runs/{id}/rerun: a new run of a
// past run's bundle, project file, environment and variables, with Vars
// on top.
type RerunRequest struct {
	Vars      map[string]string `json:"vars,omitempty"`
	StartedBy string            `json:"started_by,omitempty"`
}

// RunSpec is what a runner fetches to execute a run.
type RunSpec struct {
	RunID       string            `json:"run_id"`
	ProjectFile string            `json:"project_file"`
	Env         string            `json:"env,omitempty"`
	Git         Git               `json:"git"`
	Pass        map[string]string `json:"pass,omitempty"`
	// Vars are the variables given for the run (see NewRunRequest), to
	// be parsed with the project file (config.ParseWithVars).
	Vars map[string]string `json:"vars,omitempty"`
	// Docker is what an operator allows the project on its Docker host
	// (jetway projects set); the zero value is the strict default.
	Docker DockerPolicy `json:"docker"`
	// DockerHost is the server's choice among the hosts of the project's
	// pool (docker_host: {pool: …}); nil for a project that names its
	// DOCKER_HOST itself.
	DockerHost *AssignedHost `json:"docker_host,omitempty"`
}

// Docker host allowances: each relaxes one rule of the Docker guard's
// strict default policy for one project. Only an operator grants them
// (jetway projects set NAME --docker LIST), never jetway.yaml, whose
// phases are the code the guard is there to contain.
const (
	// DockerAllowPrivileged allows --privileged containers.
	DockerAllowPrivileged = "privileged"
	// DockerAllowHostMounts allows bind mounts of the Docker host's paths.
	DockerAllowHostMounts = "host-mounts"
	// DockerAllowHostNamespaces allows the host's network, PID, IPC, UTS,
	// user and cgroup namespaces.
	DockerAllowHostNamespaces = "host-namespaces"
	// DockerAllowDevices allows --device and device cgroup rules.
	DockerAllowDevices = "devices"
	// DockerAllowCapabilities allows --cap-add beyond Docker's defaults.
	DockerAllowCapabilities = "capabilities"
	// DockerAllowUnconfined allows seccomp=unconfined, apparmor=unconfined
	// and other --security-opt relaxations.
	DockerAllowUnconfined = "unconfined"
	// DockerAllowBuildEntitlements allows builds that ask for the
	// network.host or security.insecure entitlements.
	DockerAllowBuildEntitlements = "build-entitlements"
)

// DockerAllowances are the allowances an operator can grant, in the order
// they are shown.
var DockerAllowances = []string{DockerAllowPrivileged, DockerAllowHostMounts, DockerAllowHostNamespaces,
	DockerAllowDevices, DockerAllowCapabilities, DockerAllowUnconfined, DockerAllowBuildEntitlements}

// DockerPolicy is what a project's runs may do on their Docker host
// beyond the strict default.
type DockerPolicy struct {
	// Allow lists allowances from DockerAllowances.
	Allow []string `json:"allow,omitempty"`
	// ExposeCredentials gives the phases the runner's own credentials to
	// the Docker host (JETS_SSH_KEY as ~/.ssh/id_rsa, the TLS files in
	// ~/.docker), as before the guard: with them a phase can bypass the
	// guard, so it is for projects an operator trusts with the host.
	ExposeCredentials bool `json:"expose_credentials,omitempty"`
}

// Allows tells whether the policy grants allowance a.
func (p DockerPolicy) Allows(a string) bool {
	for _, x := range p.Allow {
		if x == a {
			return true
		}
	}
	return false
}

// Strict tells whether the policy is the default one.
func (p DockerPolicy) Strict() bool { return len(p.Allow) == 0 && !p.ExposeCredentials }

// String is the policy as runs show and the log header print it.
func (p DockerPolicy) String() string {
	if p.Strict() {
		return "strict (default)"
	}
	var parts []string
	if len(p.Allow) > 0 {
		parts = append(parts, "allows "+strings.Join(p.Allow, ", "))
	}
	if p.ExposeCredentials {
		parts = append(parts, "phases hold the Docker host's credentials")
	}
	return strings.Join(parts, "; ")
}

// Project is a project's operator settings (GET /v1/projects/{name}).
type Project struct {
	Name      string       `json:"name"`
	Docker    DockerPolicy `json:"docker"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// Artifact is a file a run kept from its workspace (artifacts: in
// jetway.yaml): its slash-separated path there, size and content hash.
type Artifact struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// NewArtifact is the body of POST /v1/runs/{id}/artifacts (run token):
// the artifact's content is the concatenation of its chunks, each a blob
// uploaded before with PUT /v1/runs/{id}/artifacts/chunks/{hash}.
type NewArtifact struct {
	Artifact
	Chunks []string `json:"chunks"`
}

// Bounds of a run's artifacts, kept by the runner and the server alike.
const (
	// ArtifactChunkSize is the largest piece of an artifact uploaded at
	// once: requests stay well under the server's body limit.
	ArtifactChunkSize = 16 << 20
	// MaxArtifactsSize bounds the artifacts of one run together.
	MaxArtifactsSize = 1 << 30
	// MaxArtifacts bounds their number.
	MaxArtifacts = 10000
	// MaxArtifactName bounds an artifact's path, in bytes.
	MaxArtifactName = 1024
)

// File is one entry of a bundle manifest.
type File struct {
	Path   string `json:"path"` // slash-separated, relative
	Mode   uint32 `json:"mode"` // permission bits; 0o40000 marks a directory
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"` // content hash, for regular files
	Link   string `json:"link,omitempty"`   // target, for symbolic links
}

// Manifest lists a bundle's files, sorted by path.
type Manifest struct {
	Files []File `json:"files"`
}

// MissingRequest asks which blobs the server lacks.
type MissingRequest struct {
	Hashes []string `json:"hashes"`
}

// MissingResponse lists them.
type MissingResponse struct {
	Missing []string `json:"missing"`
}

// Agent is an agent as the server knows it (GET /v1/agents).
type Agent struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Version     string            `json:"version,omitempty"`
	Address     string            `json:"address,omitempty"` // where its last request came from
	Concurrency int               `json:"concurrency"`
	CreatedAt   time.Time         `json:"created_at"`
	LastSeen    *time.Time        `json:"last_seen,omitempty"`
	Running     []string          `json:"running,omitempty"`
	Revoked     bool              `json:"revoked,omitempty"`
	// Allowed and MaxConcurrency are what its token lets it claim.
	Allowed        map[string]string `json:"allowed_labels,omitempty"`
	MaxConcurrency int               `json:"max_concurrency,omitempty"`
}

// NewAgentRequest creates an agent's token (POST /v1/agents). Labels and
// MaxConcurrency bound what the agent may claim: an agent token reads the
// secrets of every run it leases, so which runs it may lease is the
// operator's decision, not the agent's.
type NewAgentRequest struct {
	Name           string            `json:"name"`
	Labels         map[string]string `json:"labels,omitempty"`
	MaxConcurrency int               `json:"max_concurrency,omitempty"`
}

// NewAgentResponse carries the token, shown this once.
type NewAgentResponse struct {
	Name  string `json:"name"`
	Token string `json:"token"`
}

// CheckArtifactName tells whether name may name an artifact: a clean,
// relative, slash-separated path that stays beneath its directory, of
// printable UTF-8, at most MaxArtifactName bytes. The server refuses
// other names, and a client writes none of them.
func CheckArtifactName(name string) error {
	switch {
	case name == "" || name == ".":
		return errors.New("an empty artifact name")
	case len(name) > MaxArtifactName:
		return fmt.Errorf("artifact name %.40q… is longer than %d bytes", name, MaxArtifactName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return fmt.Errorf("artifact name %q holds a control character or is not UTF-8", name)
	case path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("artifact name %q is not a clean path beneath its directory", name)
	}
	return nil
}

// NormalizeDockerAllowances checks that every entry of allow is one of
// DockerAllowances, and returns them once each, in DockerAllowances'
// order (nil for none), so that a policy has one spelling however it was
// given.
func NormalizeDockerAllowances(allow []string) ([]string, error) {
	var unknown []string
	for _, a := range allow {
		if !slices.Contains(DockerAllowances, a) && !slices.Contains(unknown, a) {
			unknown = append(unknown, a)
		}
	}
	switch len(unknown) {
	case 0:
	case 1:
		return nil, fmt.Errorf("unknown Docker allowance %q; the allowances are %s", unknown[0], strings.Join(DockerAllowances, ", "))
	default:
		return nil, fmt.Errorf("unknown Docker allowances %s; the allowances are %s", quoteAll(unknown), strings.Join(DockerAllowances, ", "))
	}
	var out []string
	for _, a := range DockerAllowances {
		if slices.Contains(allow, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func quoteAll(list []string) string {
	quoted := make([]string, len(list))
	for i, s := range list {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(quoted, ", ")
}

// DockerHost is a Docker host the server knows (jetway hosts): a warm
// host of a pool that projects choose with docker_host: {pool: NAME}.
// Credentials are references into the parameter store, resolved by the
// runner like env.vars; the server stores no value.
type DockerHost struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Pool string `json:"pool"`
	// SSHKey, KnownHosts and the TLS files are references (SSM:/…,
	// SECRET:…), as JETS_SSH_KEY, JETS_SSH_KNOWN and DOCKER_TLS_* take.
	SSHKey     string `json:"ssh_key,omitempty"`
	KnownHosts string `json:"known_hosts,omitempty"`
	TLSCA      string `json:"tls_ca,omitempty"`
	TLSCert    string `json:"tls_cert,omitempty"`
	TLSKey     string `json:"tls_key,omitempty"`
	// MaxBuilds bounds the runs building on the host at once; 0: no bound.
	MaxBuilds int      `json:"max_builds,omitempty"`
	GC        GCPolicy `json:"gc"`
	// Projects are globs of the projects whose runs may build on the
	// host (jetway hosts add --projects); empty: all.
	Projects []string `json:"projects,omitempty"`
	// Draining hosts take no new runs; running ones finish.
	Draining  bool      `json:"draining,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// State is what the server knows of the host now (read only).
	State *HostState `json:"state,omitempty"`
}

// GCPolicy is what jetway keeps on a Docker host. Only what jetway can
// remove counts: build cache, and the images jetway's runs built.
type GCPolicy struct {
	// MaxUsed caps images jetway built plus build cache, in bytes; 0: no cap.
	MaxUsed int64 `json:"max_used_bytes,omitempty"`
	// MinFree is the free disk to keep, in bytes, or MinFreePercent of
	// the disk; 0: none.
	MinFree        int64   `json:"min_free_bytes,omitempty"`
	MinFreePercent float64 `json:"min_free_percent,omitempty"`
	// KeepImages is how many of each project's newest images stay; 0
	// means the default, 3.
	KeepImages int `json:"keep_images,omitempty"`
}

// DefaultKeepImages is GCPolicy.KeepImages when unset.
const DefaultKeepImages = 3

// Keep is the number of images per project the policy keeps.
func (p GCPolicy) Keep() int {
	if p.KeepImages <= 0 {
		return DefaultKeepImages
	}
	return p.KeepImages
}

// HostState is a Docker host's health and use as last checked.
type HostState struct {
	Up bool `json:"up"`
	// Since is when the host went up or down.
	Since     time.Time `json:"since"`
	CheckedAt time.Time `json:"checked_at"`
	// Error says why the last check failed.
	Error string `json:"error,omitempty"`
	// FreeBytes and DiskBytes are the disk of the host's data root; 0 when
	// unknown (only ssh:// hosts are measured).
	FreeBytes       int64 `json:"free_bytes,omitempty"`
	DiskBytes       int64 `json:"disk_bytes,omitempty"`
	ImagesBytes     int64 `json:"images_bytes"`
	BuildCacheBytes int64 `json:"build_cache_bytes"`
	// Builds are the runs building on the host now; Home the projects
	// whose first choice it is (HomeProjects names them), among those
	// that ran in its pool.
	Builds       int       `json:"builds"`
	Home         int       `json:"home_projects"`
	HomeProjects []string  `json:"home_project_names,omitempty"`
	LastGC       *GCReport `json:"last_gc,omitempty"`
}

// GCReport is what one garbage collection of a Docker host did (or, dry,
// would do).
type GCReport struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// Images are the references removed; BuildCacheFreed and ImagesFreed
	// the bytes.
	Images          []string      `json:"images,omitempty"`
	ImagesFreed     int64         `json:"images_freed_bytes"`
	BuildCacheFreed int64         `json:"build_cache_freed_bytes"`
	UsedBefore      int64         `json:"used_before_bytes"`
	UsedAfter       int64         `json:"used_after_bytes"`
	Duration        time.Duration `json:"duration_ns"`
	DryRun          bool          `json:"dry_run,omitempty"`
	Error           string        `json:"error,omitempty"`
}

// AssignedHost is the Docker host the server chose for a run of a project
// with docker_host: {pool: …}, in the run spec: the runner tries
// Candidates in order and builds on the first it reaches.
type AssignedHost struct {
	Pool       string          `json:"pool"`
	Candidates []HostCandidate `json:"candidates"`
	// Skipped are the hosts of the pool the server passed over, and why.
	Skipped []SkippedHost `json:"skipped,omitempty"`
}

// HostCandidate is one host in a run's order of preference, with what the
// runner needs to reach it.
type HostCandidate struct {
	Name       string   `json:"name"`
	URL        string   `json:"url"`
	SSHKey     string   `json:"ssh_key,omitempty"`
	KnownHosts string   `json:"known_hosts,omitempty"`
	TLSCA      string   `json:"tls_ca,omitempty"`
	TLSCert    string   `json:"tls_cert,omitempty"`
	TLSKey     string   `json:"tls_key,omitempty"`
	GC         GCPolicy `json:"gc"`
	// Home marks the host the project's key ranks first.
	Home bool `json:"home,omitempty"`
}

// SkippedHost is a host of the pool the server passed over for a run, and
// why (down, draining, full, at max builds).
type SkippedHost struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}
