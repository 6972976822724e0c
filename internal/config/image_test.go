package config

import (
	"errors"
	"strings"
	"testing"
)

func imageProject(image string) string {
	return "project: hello\nssm_env: dev\nimage:\n  name: registry.internal:5000/hello\n" + image + "phases:\n  build: [make]\n"
}

func TestParseImageBuildKitKeys(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte(imageProject(`  secrets:
    npmrc: SSM:/#{ssm_env}/NPMRC
    api_key: SECRET:app:api_key
    json_key: SECRET:app:key
  ssh: [default, github]
  cache_from: registry
`)))
	if err != nil {
		t.Fatal(err)
	}
	img := p.Image
	if img.Builder != BuilderBuildKit || img.CacheFrom != "registry" || strings.Join(img.SSH, ",") != "default,github" || len(img.Secrets) != 3 || img.Secrets[0].ID != "npmrc" {
		t.Fatalf("parsed %+v", img)
	}
	refs, err := img.SecretReferences(p.Path, p.Env(""))
	if err != nil {
		t.Fatal(err)
	}
	if refs["npmrc"] != (Ref{Store: ParameterStore, Name: "/dev/NPMRC"}) || refs["api_key"] != (Ref{Store: SecretsManager, Name: "app", JSONKey: "api_key"}) || refs["json_key"].JSONKey != "key" {
		t.Fatalf("refs %+v", refs)
	}
	p, err = Parse("jetway.yaml", []byte(imageProject("  builder: classic\n")))
	if err != nil || p.Image.Builder != BuilderClassic {
		t.Fatalf("builder classic: %v %+v", err, p)
	}
}

func TestParseImageBuildKitErrors(t *testing.T) {
	for _, tc := range []struct {
		name, image string
		line        int
		want        string
	}{
		{"unknown builder", "  builder: kaniko\n", 5, "use buildkit (the default) or classic"},
		{"secret as a value", "  secrets:\n    npmrc: hunter2-plain\n", 6, "is not a reference"},
		{"secret bad ref", "  secrets:\n    npmrc: SSM:no spaces\n", 6, "npmrc"},
		{"secret id a path", "  secrets:\n    ../x: SSM:/dev/X\n", 6, "is not an id"},
		{"secrets a list", "  secrets: [SSM:/dev/X]\n", 5, "must be a mapping"},
		{"secret empty", "  secrets:\n    npmrc: \"\"\n", 6, "must be a reference"},
		{"ssh bad id", "  ssh: [\"a b\"]\n", 5, "is not an id"},
		{"ssh twice", "  ssh: [default, default]\n", 5, "listed twice"},
		{"cache_from", "  cache_from: s3\n", 5, "use registry"},
		{"classic with secrets", "  builder: classic\n  secrets: {npmrc: SSM:/dev/NPMRC}\n", 6, "needs BuildKit"},
		{"classic with ssh", "  builder: classic\n  ssh: [default]\n", 6, "needs BuildKit"},
		{"unknown key", "  cache_to: registry\n", 5, "known here: name, tags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("jetway.yaml", []byte(imageProject(tc.image)))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a ConfigError", err)
			}
			if ce.Line != tc.line || !strings.Contains(ce.Error(), tc.want) {
				t.Fatalf("error %q at line %d, want %q at line %d", ce.Error(), ce.Line, tc.want, tc.line)
			}
		})
	}
}

// #{ssm_env} in a secret with no environment is an error at its line.
func TestImageSecretReferencesNeedAnEnvironment(t *testing.T) {
	p, err := Parse("jetway.yaml", []byte("project: hello\nimage:\n  name: r/hello\n  secrets:\n    npmrc: SSM:/#{ssm_env}/NPMRC\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Image.SecretReferences(p.Path, "")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 5 || !strings.Contains(err.Error(), "ssm_env") {
		t.Fatalf("error %v", err)
	}
}
