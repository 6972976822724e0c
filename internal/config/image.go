package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	"gopkg.in/yaml.v3"
)

// Image is what the build phase builds and pushes.
type Image struct {
	Name       string
	Tags       []string
	Dockerfile string
	BuildArgs  map[string]string
	Target     string
	Platform   string
	Push       bool
	// Pull is "missing" (pull base images only when the host lacks them)
	// or "always".
	Pull string
	// Builder is "buildkit" (the default) or "classic".
	Builder string
	// Secrets are build secrets by id (RUN --mount=type=secret,id=…), in
	// file order; values may be references, resolved on the runner only.
	Secrets []ImageSecret
	// SSH are the ids RUN --mount=type=ssh may use; each serves
	// JETS_SSH_KEY.
	SSH []string
	// CacheFrom is "" or "registry": build with inline cache metadata and
	// reuse the layers of the image last pushed under image.name.
	CacheFrom string
}

// ImageSecret is one entry of image.secrets.
type ImageSecret struct {
	ID    string
	Value string
	Line  int
}

// Builders.
const (
	BuilderBuildKit = "buildkit"
	BuilderClassic  = "classic"
)

// imageKeys are the keys of image:, for the message about an unknown one.
const imageKeys = "name, tags, dockerfile, build_args, target, platform, push, pull, builder, secrets, ssh, cache_from"

type rawImage struct {
	Name       string            `yaml:"name"`
	Tags       []string          `yaml:"tags"`
	Dockerfile string            `yaml:"dockerfile"`
	BuildArgs  map[string]string `yaml:"build_args"`
	Target     string            `yaml:"target"`
	Platform   string            `yaml:"platform"`
	Push       bool              `yaml:"push"`
	Pull       string            `yaml:"pull"`
	Builder    string            `yaml:"builder"`
	Secrets    yaml.Node         `yaml:"secrets"`
	SSH        []string          `yaml:"ssh"`
	CacheFrom  string            `yaml:"cache_from"`
}

// secretIDRE is what BuildKit accepts as a secret or ssh id, kept to
// letters, digits and . _ - so that an id is never a path.
var secretIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// parseImage validates the image section; bad reports a problem at a key.
func parseImage(project string, raw *rawImage, bad func(key, format string, args ...any) error) (*Image, error) {
	img := &Image{Name: raw.Name, Tags: raw.Tags, Dockerfile: raw.Dockerfile, BuildArgs: raw.BuildArgs,
		Target: raw.Target, Platform: raw.Platform, Push: raw.Push, Pull: raw.Pull}
	if img.Name == "" {
		return nil, bad("image", "image.name is missing; write for example `name: registry.internal:5000/%s`", project)
	}
	if len(img.Tags) == 0 {
		img.Tags = []string{"latest"}
	}
	for i, tag := range img.Tags {
		tmpl, err := template.New("tag").Option("missingkey=error").Parse(tag)
		if err != nil {
			return nil, bad(fmt.Sprintf("image.tags[%d]", i), "image.tags: %q is not a valid template: %v", tag, err)
		}
		if field := unknownTagField(tmpl.Tree.Root, true); field != "" {
			return nil, bad(fmt.Sprintf("image.tags[%d]", i), "image.tags: %q uses %s, which a tag does not have; use %s", tag, field, tagFieldList())
		}
	}
	if img.Dockerfile == "" {
		img.Dockerfile = "Dockerfile"
	}
	switch img.Pull {
	case "":
		img.Pull = "missing"
	case "missing", "always":
	default:
		return nil, bad("image.pull", "image.pull %q: use missing (the default) or always", img.Pull)
	}
	img.Builder = raw.Builder
	switch img.Builder {
	case "":
		img.Builder = BuilderBuildKit
	case BuilderBuildKit, BuilderClassic:
	default:
		return nil, bad("image.builder", "image.builder %q: use buildkit (the default) or classic", img.Builder)
	}
	var err error
	if img.Secrets, err = parseImageSecrets(&raw.Secrets, bad); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, id := range raw.SSH {
		key := fmt.Sprintf("image.ssh[%d]", i)
		if !secretIDRE.MatchString(id) {
			return nil, bad(key, "image.ssh: %q is not an id; use letters, digits and . _ - (RUN --mount=type=ssh uses the id default)", id)
		}
		if seen[id] {
			return nil, bad(key, "image.ssh: %s is listed twice", id)
		}
		seen[id] = true
		img.SSH = append(img.SSH, id)
	}
	img.CacheFrom = raw.CacheFrom
	switch img.CacheFrom {
	case "", "registry":
	default:
		return nil, bad("image.cache_from", "image.cache_from %q: use registry (reuse the layers of the image last pushed to image.name), or leave it out", img.CacheFrom)
	}
	if img.Builder == BuilderClassic {
		for key, set := range map[string]bool{"image.secrets": len(img.Secrets) > 0, "image.ssh": len(img.SSH) > 0, "image.cache_from": img.CacheFrom != ""} {
			if set {
				return nil, bad(key, "%s needs BuildKit, but image.builder is classic; remove one of them", key)
			}
		}
	}
	return img, nil
}

// parseImageSecrets reads image.secrets, a mapping of id to value or
// reference, keeping file order and lines for later errors.
func parseImageSecrets(node *yaml.Node, bad func(key, format string, args ...any) error) ([]ImageSecret, error) {
	if node.Kind == 0 {
		return nil, nil
	}
	if node.Kind != yaml.MappingNode {
		return nil, bad("image.secrets", "image.secrets must be a mapping of id: reference, e.g. `secrets: {npmrc: SSM:/#{ssm_env}/NPMRC}`")
	}
	var out []ImageSecret
	seen := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		key := "image.secrets." + k.Value
		if !secretIDRE.MatchString(k.Value) {
			return nil, bad(key, "image.secrets: %q is not an id; use letters, digits and . _ -", k.Value)
		}
		if seen[k.Value] {
			return nil, bad(key, "image.secrets: %s is set twice", k.Value)
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return nil, bad(key, "image.secrets.%s must be a reference such as SSM:/#{ssm_env}/NAME or SECRET:name", k.Value)
		}
		if _, ok, err := ParseRef(ExpandEnv(v.Value, "env")); err != nil {
			return nil, bad(key, "image.secrets.%s: %v", k.Value, err)
		} else if !ok {
			// A value written into the project file would be in the
			// repository and the server's database: only references.
			return nil, bad(key, "image.secrets.%s is not a reference; store the value (jetway params put NAME --type SecureString) and write SSM:/#{ssm_env}/NAME or SECRET:name", k.Value)
		}
		out = append(out, ImageSecret{ID: k.Value, Value: v.Value, Line: v.Line})
	}
	return out, nil
}

// SecretReferences are image.secrets' references after #{ssm_env}
// expansion, by id. An error names the file and line.
func (img *Image) SecretReferences(path, env string) (map[string]Ref, error) {
	refs := map[string]Ref{}
	for _, s := range img.Secrets {
		value := s.Value
		if envPlaceholder.MatchString(value) {
			if env == "" {
				return nil, &ConfigError{Path: path, Line: s.Line, Msg: fmt.Sprintf("image.secrets.%s uses #{ssm_env}, but no environment is set: add `ssm_env: dev` or pass --ssm-env", s.ID)}
			}
			value = ExpandEnv(value, env)
		}
		ref, _, err := ParseRef(value)
		if err != nil {
			return nil, &ConfigError{Path: path, Line: s.Line, Msg: fmt.Sprintf("image.secrets.%s: %v", s.ID, err)}
		}
		refs[s.ID] = ref
	}
	return refs, nil
}

// TagData is what image.tags templates may use.
type TagData struct {
	GitSHA, Branch, RunID string
}

// RenderTags renders image.tags. A template that uses GitSHA or Branch outside a
// git checkout is a configuration error naming it.
func (img *Image) RenderTags(path string, data TagData, inGit bool) ([]string, error) {
	var out []string
	for _, t := range img.Tags {
		if !inGit && (strings.Contains(t, ".GitSHA") || strings.Contains(t, ".Branch")) {
			return nil, &ConfigError{Path: path, Msg: fmt.Sprintf("image.tags: %q needs git information, but the source is not a git checkout; use a tag without {{.GitSHA}}/{{.Branch}} or run from a git checkout", t)}
		}
		tmpl, err := template.New("tag").Option("missingkey=error").Parse(t)
		if err != nil {
			return nil, &ConfigError{Path: path, Msg: fmt.Sprintf("image.tags: %q: %v", t, err)}
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, data); err != nil {
			return nil, &ConfigError{Path: path, Msg: fmt.Sprintf("image.tags: %q: %v", t, err)}
		}
		out = append(out, b.String())
	}
	return out, nil
}

// tagFields are the fields of TagData, which a tag template may use.
func tagFields() map[string]bool {
	fields := map[string]bool{}
	t := reflect.TypeFor[TagData]()
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			fields[f.Name] = true
		}
	}
	return fields
}

func tagFieldList() string {
	var names []string
	for name := range tagFields() {
		names = append(names, "{{."+name+"}}")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// unknownTagField returns the first field that a tag template reads from
// TagData but TagData lacks, as written (".Nope"), or "". dotIsData tells
// whether dot is TagData at n: inside {{with}} and {{range}} it is
// something else, which only rendering can check.
func unknownTagField(n parse.Node, dotIsData bool) string {
	fields := tagFields()
	known := func(ident []string) bool { return fields[ident[0]] && len(ident) == 1 }
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Nodes {
			if f := unknownTagField(c, dotIsData); f != "" {
				return f
			}
		}
	case *parse.ActionNode:
		return unknownTagField(n.Pipe, dotIsData)
	case *parse.PipeNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Cmds {
			if f := unknownTagField(c, dotIsData); f != "" {
				return f
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if f := unknownTagField(a, dotIsData); f != "" {
				return f
			}
		}
	case *parse.FieldNode:
		if dotIsData && !known(n.Ident) {
			return "." + strings.Join(n.Ident, ".")
		}
	case *parse.VariableNode:
		// $ is the data wherever dot is.
		if n.Ident[0] == "$" && len(n.Ident) > 1 && !known(n.Ident[1:]) {
			return strings.Join(n.Ident, ".")
		}
	case *parse.ChainNode:
		return unknownTagField(n.Node, dotIsData)
	case *parse.IfNode:
		return unknownTagBranch(&n.BranchNode, dotIsData, dotIsData)
	case *parse.WithNode:
		return unknownTagBranch(&n.BranchNode, dotIsData, false)
	case *parse.RangeNode:
		return unknownTagBranch(&n.BranchNode, dotIsData, false)
	case *parse.TemplateNode:
		return unknownTagField(n.Pipe, dotIsData)
	}
	return ""
}

func unknownTagBranch(b *parse.BranchNode, dotIsData, dotIsDataInside bool) string {
	if f := unknownTagField(b.Pipe, dotIsData); f != "" {
		return f
	}
	if f := unknownTagField(b.List, dotIsDataInside); f != "" {
		return f
	}
	return unknownTagField(b.ElseList, dotIsData)
}
