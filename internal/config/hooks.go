package config

// Hook names, in the order a run reaches them. A hook runs as a phase of
// its own: the executable .jetway/hooks/NAME of the workspace (where Jets
// users keep theirs), then the commands of hooks.NAME in jetway.yaml.
const (
	BeforeBuild   = "before_build"
	AfterBuild    = "after_build"
	BeforeRelease = "before_release"
	AfterRelease  = "after_release"
)

// HookNames are the hooks, in run order.
var HookNames = []string{BeforeBuild, AfterBuild, BeforeRelease, AfterRelease}

// HookDir holds a project's hook executables, beneath the workspace.
const HookDir = ".jetway/hooks"

// Hooks are the commands of hooks: in jetway.yaml, by hook name.
type Hooks struct {
	BeforeBuild   []string
	AfterBuild    []string
	BeforeRelease []string
	AfterRelease  []string
}

// Commands returns the commands of the hook name.
func (h Hooks) Commands(name string) []string {
	switch name {
	case BeforeBuild:
		return h.BeforeBuild
	case AfterBuild:
		return h.AfterBuild
	case BeforeRelease:
		return h.BeforeRelease
	case AfterRelease:
		return h.AfterRelease
	}
	return nil
}

type rawHooks struct {
	BeforeBuild   []string `yaml:"before_build"`
	AfterBuild    []string `yaml:"after_build"`
	BeforeRelease []string `yaml:"before_release"`
	AfterRelease  []string `yaml:"after_release"`
}

const hookKeys = "before_build, after_build, before_release, after_release"

func parseHooks(raw rawHooks, bad func(key, format string, args ...any) error) (Hooks, error) {
	h := Hooks(raw)
	for _, name := range HookNames {
		for i, c := range h.Commands(name) {
			if c == "" {
				return h, bad(fmtIndex("hooks."+name, i), "hooks.%s: an empty command; remove it or write one, e.g. ./scripts/%s", name, name)
			}
		}
	}
	return h, nil
}
