package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is what `jetway version` reports, read from the build
// information the Go toolchain stamps into the binary, so that a plain
// `go build` or `go install` reports the truth (a tag, a pseudo-version
// or "(devel)"); only a release names its version, with releaseVersion.
type buildVersion struct {
	Version string `json:"version"`
	// Commit is vcs.revision, with "-dirty" when the tree had changes.
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// readBuildVersion turns the binary's build information into a
// buildVersion; what it lacks is "unknown".
func readBuildVersion(info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: "unknown", Commit: "unknown", GoVersion: "unknown"}
	if !ok || info == nil {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	if info.GoVersion != "" {
		v.GoVersion = info.GoVersion
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" {
		v.Commit = revision
		if modified {
			v.Commit += "-dirty"
		}
	}
	return v
}

func (v buildVersion) String() string {
	return fmt.Sprintf("jetway %s\ncommit %s\n%s\n", v.Version, v.Commit, v.GoVersion)
}

// releaseVersion is the version scripts/release.sh names its binaries
// with (-ldflags "-X github.com/jetway-dev/jetway/internal/cli.releaseVersion=v1.2.3"):
// a release may be built from a commit no tag names yet. Empty in every
// other build.
var releaseVersion string

type versionOptions struct {
	json bool
}

// addVersion gives root a version subcommand and a --version flag, which
// print the same thing.
func addVersion(c *CLI, root *cobra.Command) {
	v := readBuildVersion(debug.ReadBuildInfo())
	if releaseVersion != "" {
		v.Version = releaseVersion
	}
	root.Version = v.Version
	// Cobra runs the template through text/template: the text goes in as
	// a quoted string literal, so nothing in it is read as an action.
	root.SetVersionTemplate(fmt.Sprintf("{{%q}}", v.String()))
	root.AddCommand(newVersionCommand(c, v))
}

func newVersionCommand(c *CLI, v buildVersion) *cobra.Command {
	var opts versionOptions
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print jetway's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(c, opts, v)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func runVersion(c *CLI, opts versionOptions, v buildVersion) error {
	if opts.json {
		return printJSON(c.Out, v)
	}
	_, err := fmt.Fprint(c.Out, v)
	return err
}
