package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
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
}

// imageKeys are the keys of image:, for the message about an unknown one.
const imageKeys = "name, tags, dockerfile, build_args, target, platform, push, pull"

type rawImage struct {
	Name       string            `yaml:"name"`
	Tags       []string          `yaml:"tags"`
	Dockerfile string            `yaml:"dockerfile"`
	BuildArgs  map[string]string `yaml:"build_args"`
	Target     string            `yaml:"target"`
	Platform   string            `yaml:"platform"`
	Push       bool              `yaml:"push"`
	Pull       string            `yaml:"pull"`
}

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
	return img, nil
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
	known := func(ident []string) bool { return tagFields()[ident[0]] && len(ident) == 1 }
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
