package bundle

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// treePaths are the files of every tree the git comparison builds: names
// that the patterns below catch or narrowly miss.
var treePaths = []string{
	"a.log", "b.txt", "abc", "bbc", "cbc", "zbc", "1bc", "a-c", "a.c", "abx.txt", "bbx.txt",
	"dir/a.log", "dir/sub/a.log", "dir/keep.log", "keep.log",
	"logs/x", "logs/keep.log", "logs/sub/keep.log",
	"build/out.o", "build/keep", "src/build/out.o", "src/build.c",
	"doc/frotz/x", "a/doc/frotz/y", "frotz",
	"foo/bar", "foo/x/bar", "foo/x/y/bar", "bar", "other/bar", "foo/baz", "foobar", "fooxbar",
	"deep/a/b/c/d.txt", "deep/d.txt", "deep/a/b.txt",
	"sp ace ", "sp ace", "!bang", "#hash", "[x]", "x]",
	"node_modules/m/index.js", "sub/node_modules/x.js", "sub/app.js", "sub/keep.js", "sub/deeper/y.js",
	".env", ".env.local", "config/env", "config/app.yml", "tmp/cache/x", "x/y/z.txt",
	"Upper.TXT", "tab\tname",
}

// TestGitignoreAgreesWithGit builds a tree per case, with its ignore
// files, and compares the files Source keeps with what the real git
// considers untracked and not ignored (git ls-files --others
// --exclude-standard).
func TestGitignoreAgreesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is not installed")
		}
		t.Skip("git is not installed")
	}
	tests := []struct {
		name  string
		files map[string]string // ignore files
	}{
		{"basename glob", map[string]string{".gitignore": "*.log\n"}},
		{"negation", map[string]string{".gitignore": "*.log\n!keep.log\n"}},
		{"no re-include in an ignored dir", map[string]string{".gitignore": "logs/\n!logs/keep.log\n"}},
		{"re-include beside an ignored content", map[string]string{".gitignore": "logs/*\n!logs/keep.log\n"}},
		{"anchored", map[string]string{".gitignore": "/build\n"}},
		{"dir only at any depth", map[string]string{".gitignore": "build/\n"}},
		{"dir only does not match a file", map[string]string{".gitignore": "frotz/\nkeep.log/\n"}},
		{"middle slash anchors", map[string]string{".gitignore": "doc/frotz/\n"}},
		{"leading double star", map[string]string{".gitignore": "**/bar\n"}},
		{"double star between", map[string]string{".gitignore": "foo/**/bar\ndeep/**/d.txt\n"}},
		{"trailing double star", map[string]string{".gitignore": "foo/**\n!foo/baz\n"}},
		{"double star inside a component", map[string]string{".gitignore": "fo**bar\n"}},
		{"one star per component", map[string]string{".gitignore": "deep/*/b.txt\n*/sub/*\n"}},
		{"star does not cross slash", map[string]string{".gitignore": "x/*.txt\n"}},
		{"classes", map[string]string{".gitignore": "[!a]bc\n[a-c]x.txt\n"}},
		{"caret class and ranges", map[string]string{".gitignore": "[^a-b]bc\na[-.]c\n"}},
		{"posix classes", map[string]string{".gitignore": "[[:digit:]]bc\n[[:upper:]]*\n"}},
		{"question mark", map[string]string{".gitignore": "a?c\n"}},
		{"bracket literal", map[string]string{".gitignore": "[]]\n\\[x]\n"}},
		{"escapes", map[string]string{".gitignore": "\\#hash\n\\!bang\n"}},
		{"comment and blank", map[string]string{".gitignore": "#hash\n\n   \nabc\n"}},
		{"trailing spaces trimmed", map[string]string{".gitignore": "sp ace   \n"}},
		{"escaped trailing space kept", map[string]string{".gitignore": "sp ace\\ \n"}},
		{"crlf", map[string]string{".gitignore": "*.log\r\n!keep.log\r\n"}},
		{"last match wins", map[string]string{".gitignore": "*.txt\n!b.txt\n*.txt\n"}},
		{"negate a directory", map[string]string{".gitignore": "*\n!*/\n!*.js\n"}},
		{"nested gitignore", map[string]string{".gitignore": "node_modules/\n*.js\n", "sub/.gitignore": "!keep.js\n/deeper\n"}},
		{"nested anchored is relative", map[string]string{"deep/.gitignore": "/a/b.txt\nd.txt\n"}},
		{"deeper wins", map[string]string{".gitignore": "!*.log\n", "dir/.gitignore": "*.log\n", "dir/sub/.gitignore": "!a.log\n"}},
		{"gitignore in an ignored dir is not read", map[string]string{".gitignore": "logs\n", "logs/.gitignore": "!keep.log\n"}},
		{"info exclude", map[string]string{".git/info/exclude": "*.txt\n.env*\n", ".gitignore": "!b.txt\n"}},
		{"dotfiles", map[string]string{".gitignore": ".env\n"}},
		{"ignore file ignores itself", map[string]string{".gitignore": ".gitignore\n*.c\n"}},
		{"case sensitive", map[string]string{".gitignore": "*.txt\n"}},
		{"tab in name", map[string]string{".gitignore": "tab\tname\n"}},
		{"star alone", map[string]string{".gitignore": "*\n!.gitignore\n"}},
		{"double star alone", map[string]string{".gitignore": "**\n!sub/\n!sub/**\n"}},
		{"slash star star slash", map[string]string{".gitignore": "**/sub/**\n"}},
		{"unclosed class", map[string]string{".gitignore": "[abc\nabc\n"}},
		{"trailing backslash", map[string]string{".gitignore": "abc\\\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			git(t, dir, "init", "-q")
			files := map[string]string{}
			for _, p := range treePaths {
				files[p] = "x"
			}
			for name, content := range tt.files {
				files[name] = content
			}
			write(t, dir, files)
			want := strings.Split(strings.TrimRight(git(t, dir, "ls-files", "-z", "--others", "--exclude-standard"), "\x00"), "\x00")
			slices.Sort(want)
			got := keptFiles(t, dir)
			if !slices.Equal(got, want) {
				t.Errorf("kept files differ from git's\nonly jetway: %q\nonly git:    %q", minus(got, want), minus(want, got))
			}
		})
	}
}

func TestWildmatch(t *testing.T) {
	// A few of git's own t3070 cases, with WM_PATHNAME.
	tests := []struct {
		pattern, text string
		want          bool
	}{
		{"foo", "foo", true},
		{"foo", "bar", false},
		{"???", "foo", true},
		{"*f", "foo", false},
		{"*", "foo/bar", false},
		{"**", "foo/bar", true},
		{"*/bar", "foo/bar", true},
		{"**/bar*", "deep/foo/bar/baz", false},
		{"**/bar/*", "deep/foo/bar/baz", true},
		{"**/bar/**", "deep/foo/bar/baz/", true},
		{"**/bar/*", "deep/foo/bar/baz/", false},
		{"foo/**/bar", "foo/bar", true},
		{"foo/**/bar", "foo/a/b/bar", true},
		{"foo/**", "foo", false},
		{"*/foo", "bar/baz/foo", false},
		{"**/foo", "bar/baz/foo", true},
		{"[!a-z]", "A", true},
		{"[^a-z]", "a", false},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"[[:alpha:]][[:digit:]]", "a1", true},
		{"[[:bogus:]]", "a", false},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a[/]b", "a/b", false},
		{"a?b", "a/b", false},
		{"XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1", true},
	}
	for _, tt := range tests {
		if got := wildmatch(tt.pattern, tt.text); got != tt.want {
			t.Errorf("wildmatch(%q, %q) = %v, want %v", tt.pattern, tt.text, got, tt.want)
		}
	}
}

// keptFiles lists what Source keeps of dir: files and links, not
// directories, as git lists them.
func keptFiles(t *testing.T, dir string) []string {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	src, err := OpenSource(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = src.Walk(func(rel string, d fs.DirEntry) error {
		if !d.IsDir() {
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	// Neither the machine's nor the user's configuration (core.excludesFile).
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestSourceLayers: .gitignore files (nested ones too) and
// .git/info/exclude drop files, .jetwayignore drops more and re-includes
// what git ignores, .git never comes along, and links are kept as links.
func TestSourceLayers(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		".gitignore":                "node_modules/\n.env*\ntmp/\nlog/\nconfig/env\n",
		".git/HEAD":                 "ref: refs/heads/main\n",
		".git/info/exclude":         "*.swp\n",
		".jetwayignore":             "secret.txt\n!config/env\n!tmp/keep/**\n",
		"app.rb":                    "puts 1\n",
		"app.rb.swp":                "swap\n",
		"secret.txt":                "no\n",
		".env":                      "SECRET=1\n",
		".env.local":                "SECRET=2\n",
		"config/env":                "GENERATED=1\n",
		"config/app.yml":            "a: 1\n",
		"node_modules/left/pad.js":  "x\n",
		"tmp/cache/x":               "x\n",
		"tmp/keep/a/b":              "kept\n",
		"log/dev.log":               "x\n",
		"web/.gitignore":            "dist/\n!important.gen\n*.gen\n",
		"web/dist/app.js":           "x\n",
		"web/src/x.gen":             "x\n",
		"web/src/index.js":          "x\n",
		"vendor/lib/.git/config":    "[core]\n",
		"vendor/lib/lib.rb":         "x\n",
		"vendor/lib/node_modules/x": "x\n",
	})
	if err := os.Symlink("app.rb", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	got := keptFiles(t, dir)
	want := []string{".gitignore", ".jetwayignore", "app.rb", "config/app.yml", "config/env", "link", "tmp/keep/a/b", "vendor/lib/lib.rb", "web/.gitignore", "web/src/index.js"}
	if !slices.Equal(got, want) {
		t.Fatalf("kept %q\nwant %q", got, want)
	}
	m, _, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	// The directories of re-included files come along; the others of an
	// ignored directory do not.
	for _, p := range []string{"tmp", "tmp/keep", "tmp/keep/a", "config"} {
		if !slices.Contains(paths, p) {
			t.Errorf("manifest lacks directory %s: %q", p, paths)
		}
	}
	for _, p := range []string{"tmp/cache", "node_modules", ".git", "log"} {
		if slices.Contains(paths, p) {
			t.Errorf("manifest has %s: %q", p, paths)
		}
	}
	dst := t.TempDir()
	if err := CopyTree(dir, dst, false, -1, -1); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dst, "tmp/keep/a/b")); err != nil || string(data) != "kept\n" {
		t.Fatalf("copy of a re-included file: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(dst, ".env")); err == nil {
		t.Fatal(".env was copied")
	}
}

// TestIgnoreFileAttacks: an ignore file that is a link (out of the tree,
// or anywhere), a FIFO or huge is refused with a message naming it, never
// followed, read without end or skipped.
func TestIgnoreFileAttacks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(outside, []byte("!*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		plant func(dir string) error
		want  string
	}{
		{"gitignore links out", func(dir string) error { return os.Symlink(outside, filepath.Join(dir, ".gitignore")) }, ".gitignore: it is a symbolic link"},
		{"nested gitignore links in", func(dir string) error {
			return os.Symlink("../app.rb", filepath.Join(dir, "sub", ".gitignore"))
		}, "sub/.gitignore: it is a symbolic link"},
		{"info exclude is a fifo", func(dir string) error {
			return syscallMkfifo(filepath.Join(dir, ".git", "info", "exclude"))
		}, ".git/info/exclude: not a regular file"},
		{"huge gitignore", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, ".gitignore"), make([]byte, maxIgnoreFile+1), 0o644)
		}, ".gitignore: larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{"app.rb": "x\n", "sub/x": "x\n", ".git/info/.keep": ""})
			if err := tt.plant(dir); errors.Is(err, errors.ErrUnsupported) {
				t.Skipf("this system cannot: %v", err)
			} else if err != nil {
				t.Fatal(err)
			}
			_, _, err := Scan(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Scan: %v, want %q", err, tt.want)
			}
		})
	}
}
