package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/jetway-dev/jetway/internal/config"
)

// hookPresent tells whether the hook name has anything to run: an
// executable .jetway/hooks/NAME in the workspace, or commands under
// hooks: in jetway.yaml. A hook file that is there but cannot be run is
// an error that says why, so the hook's phase fails instead of being
// skipped without a word: a user who moved a migration into a hook must
// not find it silently left out.
//
// The file is looked at by the runner beneath the workspace (os.Root:
// nothing outside it is touched, whatever links it holds), but it is run
// by the run user in the sandbox, like any phase command; the look is for
// clear messages, not a security boundary: what a hook can do, a phase
// command can do too.
func (r *run) hookPresent(name string) (bool, error) {
	file, err := r.hookFile(name)
	if err != nil {
		return false, err
	}
	return file || len(r.opts.Project.Hooks.Commands(name)) > 0, nil
}

// hookFile tells whether .jetway/hooks/NAME is a hook to run: an
// executable regular file of the workspace, or a link to one that stays
// in the workspace. A link out of it, a directory, a device or a file
// without an execute bit is an error naming it and saying what to do.
func (r *run) hookFile(name string) (bool, error) {
	rel := config.HookDir + "/" + name
	root, err := os.OpenRoot(r.sb.Workspace)
	if err != nil {
		return false, err
	}
	defer root.Close()
	info, err := root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("hook %s: %w; a hook must be a file of the project, in the workspace", rel, err)
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		target, _ := root.Readlink(rel)
		if info, err = root.Stat(rel); err != nil {
			return false, fmt.Errorf("hook %s is a symbolic link to %q, which is not a file of the workspace (%v): a hook must be a file of the project; replace the link with the script", rel, target, err)
		}
	}
	if !info.Mode().IsRegular() {
		return false, fmt.Errorf("hook %s is not a regular file (%s): a hook is an executable script or program; remove it or replace it with one", rel, info.Mode().Type())
	}
	if info.Mode().Perm()&0o111 == 0 {
		return false, fmt.Errorf("hook %s is not executable: make it so (chmod +x %s, and in git: git update-index --chmod=+x %s), or remove it", rel, rel, rel)
	}
	return true, nil
}

// runHook runs the hook name as a phase: its file, then its commands of
// jetway.yaml, in the workspace as the run user with the run's
// environment, like phase commands.
func (r *run) runHook(ctx context.Context, name string, buildOK bool) error {
	var commands []string
	file, err := r.hookFile(name)
	if err != nil {
		return err
	}
	if file {
		commands = append(commands, "./"+config.HookDir+"/"+name)
	}
	commands = append(commands, r.opts.Project.Hooks.Commands(name)...)
	return r.runCommands(ctx, name, commands, buildOK)
}
