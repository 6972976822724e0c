package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jetway-dev/jetway/internal/config"
)

func newInitCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented starter jetway.yaml",
		Long: `Write a commented starter jetway.yaml into DIR (default: the current
directory): the project name from the directory, the Dockerfile it finds,
and the remote Docker host variables, commented out, to fill in.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			path := filepath.Join(dir, config.FileName)
			if _, err := os.Stat(path); err == nil && !force {
				return withExit(ExitFailed, fmt.Errorf("%s exists; use --force to replace it", path))
			}
			content := starterFile(dir)
			if _, err := config.Parse(path, []byte(content)); err != nil {
				return fmt.Errorf("the starter file does not validate (a bug): %w", err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				return withExit(ExitFailed, err)
			}
			fmt.Fprintf(c.Out, "wrote %s; edit it, then run `jetway run %s`\n", path, dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing jetway.yaml")
	return cmd
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

func starterFile(dir string) string {
	abs, _ := filepath.Abs(dir)
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-")
	if name == "" {
		name = "app"
	}
	dockerfile := ""
	for _, candidate := range []string{"Dockerfile", "docker/Dockerfile", "Containerfile"} {
		if _, err := os.Stat(filepath.Join(dir, candidate)); err == nil {
			dockerfile = candidate
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# jetway project file: see 'jetway run --help'.
project: %s
ssm_env: dev                  # what #{ssm_env} expands to; --env overrides

env:
  vars:
    # A persistent remote Docker host keeps the layer cache between runs.
    # Store the key and the host key first:
    #   jetway params put /dev/JETS_SSH_KEY --type SecureString --value-file ~/.ssh/id_rsa
    #   ssh-keyscan -H -t rsa docker.internal | jetway params put /dev/JETS_SSH_KNOWN --type SecureString
    # DOCKER_HOST: ssh://ubuntu@docker.internal
    # JETS_SSH_KEY: SSM:/#{ssm_env}/JETS_SSH_KEY
    # JETS_SSH_KNOWN: SSM:/#{ssm_env}/JETS_SSH_KNOWN
    # Registry login (to DOCKER_REGISTRY, else image.name's registry, else Docker Hub):
    # DOCKER_USER: deploybot
    # DOCKER_PASS: SSM:/#{ssm_env}/DOCKER_PASS
    APP_ENV: production
`, name)
	if dockerfile != "" {
		fmt.Fprintf(&b, `
image:
  name: registry.example.com/%s   # where push: true sends it
  tags: [latest]                  # templates: {{.GitSHA}}, {{.Branch}}, {{.RunID}}
  dockerfile: %s
  push: false
`, name, dockerfile)
	} else {
		b.WriteString("\n# image:                      # no Dockerfile found; add one to build an image\n#   name: registry.example.com/" + name + "\n")
	}
	b.WriteString(`
phases:                         # shell commands, run in the workspace
  install: []
  pre_build: []
  build: []                     # the image build runs first in this phase
  post_build: []

timeout: 60m
`)
	return b.String()
}
