package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
)

// GitIgnoreFile is git's per-directory ignore file; GitInfoExclude is the
// checkout's own, beneath the root.
const (
	GitIgnoreFile  = ".gitignore"
	GitInfoExclude = ".git/info/exclude"
)

// maxIgnoreFile bounds an ignore file jetway reads: a run's workspace is
// hostile, and an ignore file is a few lines.
const maxIgnoreFile = 4 << 20

// Source is the set of a project's files that a run sees:
//
//  1. git's rules: .git/info/exclude, then every .gitignore of the tree,
//     each applying to its own directory, deeper ones taking precedence,
//     the last matching line winning, nothing beneath an ignored
//     directory coming back (as git: a file in an ignored directory
//     cannot be re-included by a .gitignore);
//  2. then .jetwayignore (dockerignore syntax, as before) on top: a file
//     it excludes is left out, and a file its "!pattern" re-includes is
//     kept whatever .gitignore said, in ignored directories too (a
//     generated config/env that git must not track but the run needs);
//  3. a .git entry is never part of it, at any depth.
//
// The user's global excludes (core.excludesFile) are not read: the bundle
// must not depend on who deploys it. Neither is git's index: a file git
// tracks although a .gitignore matches it is left out like any other;
// re-include it in .jetwayignore.
type Source struct {
	root  *os.Root
	fsys  fs.ReadDirFS
	jetPM *patternmatcher.PatternMatcher // .jetwayignore
	// jetAll is .jetwayignore after an "exclude everything" line, so that
	// a path it leaves included was re-included by a "!" line.
	jetAll     *patternmatcher.PatternMatcher
	negPrefix  [][]string // the literal leading components of each "!" line
	info       []gitPattern
	dirs       map[string][]gitPattern // each directory's .gitignore
	gitIgnored map[string]bool         // directories git ignores, whose contents it never reads
}

// OpenSource reads the rules of the tree beneath root (see Source). Every
// ignore file is opened beneath root, without following a link in its
// place, and only when it is a regular file.
func OpenSource(root *os.Root) (*Source, error) {
	s := &Source{root: root, fsys: RootFS(root), dirs: map[string][]gitPattern{}, gitIgnored: map[string]bool{}}
	patterns, err := ReadIgnoreIn(root, IgnoreFile)
	if err != nil {
		return nil, err
	}
	if s.jetPM, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf("%s: %w", IgnoreFile, err)
	}
	if s.jetAll, err = patternmatcher.New(append([]string{"**"}, patterns...)); err != nil {
		return nil, fmt.Errorf("%s: %w", IgnoreFile, err)
	}
	for _, p := range s.jetPM.Patterns() {
		if p.Exclusion() {
			s.negPrefix = append(s.negPrefix, literalPrefix(p.String()))
		}
	}
	data, err := readSmallFile(root, GitInfoExclude)
	if err != nil {
		return nil, err
	}
	s.info = parseGitignore(data, "")
	return s, nil
}

// literalPrefix is the path components of a pattern before its first
// wildcard.
func literalPrefix(pattern string) []string {
	var out []string
	for _, c := range strings.Split(path.Clean(pattern), "/") {
		if strings.ContainsAny(c, `*?[\`) {
			break
		}
		out = append(out, c)
	}
	return out
}

// readSmallFile reads an ignore file beneath root; a missing one is empty.
// A link in its place is refused: git does not follow one either, and
// leaving it unread would ship what it was meant to keep out.
func readSmallFile(root *os.Root, name string) ([]byte, error) {
	linkErr := fmt.Errorf("reading %s: it is a symbolic link, which jetway (like git) does not follow; make it a regular file", name)
	before, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if before.Mode()&fs.ModeSymlink != 0 {
		return nil, linkErr
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file; remove it or make it one", name)
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|oNoFollow, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if !os.SameFile(before, info) { // swapped for a link meanwhile
		return nil, linkErr
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIgnoreFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxIgnoreFile {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", name, maxIgnoreFile)
	}
	return data, nil
}

// Walk visits the entries of the tree that the rules keep, with their
// slash-separated paths, parents before children: a kept file in a
// directory that is left out (re-included by .jetwayignore) comes after
// that directory's entry, so a copy can make it. It never follows a
// symbolic link.
func (s *Source) Walk(visit func(rel string, d fs.DirEntry) error) error {
	// Directories left out but entered, because a "!" line of
	// .jetwayignore may keep something beneath them, and not visited yet.
	pending := map[string]fs.DirEntry{}
	var visitParents func(dir string) error
	visitParents = func(dir string) error {
		if dir == "." {
			return nil
		}
		d, ok := pending[dir]
		if !ok {
			return nil
		}
		if err := visitParents(path.Dir(dir)); err != nil {
			return err
		}
		delete(pending, dir)
		return visit(dir, d)
	}
	return fs.WalkDir(s.fsys, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel == "." {
			return s.readDirRules("")
		}
		if d.Name() == ".git" {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		keep, gitIgnored, err := s.keep(rel, d.IsDir())
		if err != nil {
			return err
		}
		if d.IsDir() {
			if gitIgnored {
				s.gitIgnored[rel] = true
			} else if err := s.readDirRules(rel); err != nil {
				return err
			}
		}
		if !keep {
			if d.IsDir() {
				if !s.mayKeepBeneath(rel) {
					return fs.SkipDir
				}
				pending[rel] = d
			}
			return nil
		}
		if err := visitParents(path.Dir(rel)); err != nil {
			return err
		}
		return visit(rel, d)
	})
}

// readDirRules reads the .gitignore of a directory git reads.
func (s *Source) readDirRules(dir string) error {
	name := GitIgnoreFile
	if dir != "" {
		name = dir + "/" + GitIgnoreFile
	}
	data, err := readSmallFile(s.root, name)
	if err != nil {
		return err
	}
	if p := parseGitignore(data, dir); len(p) > 0 {
		s.dirs[dir] = p
	}
	return nil
}

// keep decides one entry: .jetwayignore's verdict if it has one, else
// git's. gitIgnored is git's own verdict.
func (s *Source) keep(rel string, isDir bool) (keep, gitIgnored bool, err error) {
	gitIgnored = s.gitIgnored[path.Dir(rel)]
	if !gitIgnored {
		// Precedence rises from .git/info/exclude to the root's .gitignore
		// to the deepest directory's.
		patterns := append(append([]gitPattern(nil), s.info...), s.dirs[""]...)
		if dir := path.Dir(rel); dir != "." {
			parts := strings.Split(dir, "/")
			for i := range parts {
				patterns = append(patterns, s.dirs[strings.Join(parts[:i+1], "/")]...)
			}
		}
		gitIgnored, _ = gitExcluded(patterns, rel, isDir)
	}
	excluded, err := s.jetPM.MatchesOrParentMatches(rel)
	if err != nil {
		return false, false, err
	}
	if excluded {
		return false, gitIgnored, nil
	}
	if len(s.negPrefix) > 0 {
		notReincluded, err := s.jetAll.MatchesOrParentMatches(rel)
		if err != nil {
			return false, false, err
		}
		if !notReincluded {
			return true, gitIgnored, nil
		}
	}
	return !gitIgnored, gitIgnored, nil
}

// mayKeepBeneath tells whether a "!" line of .jetwayignore could keep
// something beneath the directory dir: its literal leading components
// agree with dir's as far as both go.
func (s *Source) mayKeepBeneath(dir string) bool {
	parts := strings.Split(dir, "/")
	for _, prefix := range s.negPrefix {
		ok := true
		for i := 0; i < len(prefix) && i < len(parts); i++ {
			if prefix[i] != parts[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
