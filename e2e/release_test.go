package e2e

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestReleaseArtifacts runs scripts/release.sh into a temporary directory
// and checks what a user downloads: every Linux binary runs `jetway
// version` and names the release (linux/arm64 through qemu-user when the
// machine has it, else its ELF machine is checked), the macOS and Windows
// binaries are Mach-O and PE files of their architecture, SHA256SUMS
// matches every file, and the .debs hold the binary and both systemd
// units with the control fields apt reads.
func TestReleaseArtifacts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds five binaries")
	}
	for _, tool := range []string{"dpkg-deb", "sha256sum", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s missing: %v", tool, err)
		}
	}
	out := t.TempDir()
	const version = "v0.0.0-test.1"
	cmd := exec.Command("bash", "../scripts/release.sh", out)
	cmd.Env = append(os.Environ(), "VERSION="+version)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}

	bin := func(goos, goarch string) string {
		name := "jetway_" + version + "_" + goos + "_" + goarch
		if goos == "windows" {
			name += ".exe"
		}
		return filepath.Join(out, name)
	}
	// The Linux binaries run; static ones need no loader or libc.
	elfArch := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, arch := range []string{"amd64", "arm64"} {
		path := bin("linux", arch)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if f.Machine != elfArch[arch] {
			t.Errorf("%s: ELF machine %v, want %v", path, f.Machine, elfArch[arch])
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: has a program interpreter: not static", path)
			}
		}
		f.Close()
		var argv []string
		switch {
		case arch == runtime.GOARCH:
			argv = []string{path, "version"}
		case arch == "arm64" && lookPath("qemu-aarch64", "qemu-aarch64-static") != "":
			argv = []string{lookPath("qemu-aarch64", "qemu-aarch64-static"), path, "version"}
		case arch == "amd64" && lookPath("qemu-x86_64", "qemu-x86_64-static") != "":
			argv = []string{lookPath("qemu-x86_64", "qemu-x86_64-static"), path, "version"}
		default:
			t.Logf("%s: no qemu-user for %s here; its ELF machine was checked", filepath.Base(path), arch)
			continue
		}
		b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(b), "jetway "+version+"\n") {
			t.Errorf("%s version: %v\n%s", filepath.Base(path), err, b)
		}
	}
	machoArch := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}
	for _, arch := range []string{"amd64", "arm64"} {
		f, err := macho.Open(bin("darwin", arch))
		if err != nil {
			t.Fatalf("darwin/%s: %v", arch, err)
		}
		if f.Cpu != machoArch[arch] || f.Type != macho.TypeExec {
			t.Errorf("darwin/%s: Mach-O cpu %v type %v", arch, f.Cpu, f.Type)
		}
		f.Close()
	}
	pf, err := pe.Open(bin("windows", "amd64"))
	if err != nil {
		t.Fatalf("windows/amd64: %v", err)
	}
	if pf.Machine != pe.IMAGE_FILE_MACHINE_AMD64 || pf.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
		t.Errorf("windows/amd64: PE machine %#x characteristics %#x", pf.Machine, pf.Characteristics)
	}
	pf.Close()

	// SHA256SUMS names every artifact, and each sum matches.
	sums := readSums(t, filepath.Join(out, "SHA256SUMS"))
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "SHA256SUMS" {
			continue
		}
		want, ok := sums[e.Name()]
		if !ok {
			t.Errorf("SHA256SUMS lacks %s", e.Name())
			continue
		}
		if got := fileSHA256(t, filepath.Join(out, e.Name())); got != want {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", e.Name(), got, want)
		}
		delete(sums, e.Name())
	}
	for name := range sums {
		t.Errorf("SHA256SUMS names %s, which the release lacks", name)
	}

	// The .debs: contents and control fields.
	for _, arch := range []string{"amd64", "arm64"} {
		deb := filepath.Join(out, "jetway_0.0.0+test.1_"+arch+".deb")
		b, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-deb -c %s: %v\n%s", deb, err, b)
		}
		contents := string(b)
		if strings.Contains(contents, "drwx------") {
			t.Errorf("%s has a directory only root may enter:\n%s", filepath.Base(deb), contents)
		}
		for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/jetway",
			"./usr/lib/systemd/system/jetway-server.service", "./usr/lib/systemd/system/jetway-agent.service",
			"./usr/share/doc/jetway/agent.env.example"} {
			if !strings.Contains(contents, want) {
				t.Errorf("%s lacks %q:\n%s", filepath.Base(deb), want, contents)
			}
		}
		for field, want := range map[string]string{"Package": "jetway", "Version": "0.0.0+test.1", "Architecture": arch} {
			b, err := exec.Command("dpkg-deb", "-f", deb, field).Output()
			if err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s: %s = %q (%v), want %q", filepath.Base(deb), field, b, err, want)
			}
		}
		dir := t.TempDir()
		if b, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x: %v\n%s", err, b)
		}
		for _, unit := range []string{"jetway-server.service", "jetway-agent.service"} {
			u, err := os.ReadFile(filepath.Join(dir, "usr/lib/systemd/system", unit))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(u), "ExecStart=/usr/bin/jetway ") || strings.Contains(string(u), "/usr/local/bin/jetway") {
				t.Errorf("%s in the .deb does not start /usr/bin/jetway:\n%s", unit, u)
			}
		}
		if arch == runtime.GOARCH {
			b, err := exec.Command(filepath.Join(dir, "usr/bin/jetway"), "version").CombinedOutput()
			if err != nil || !strings.HasPrefix(string(b), "jetway "+version+"\n") {
				t.Errorf("the .deb's jetway version: %v\n%s", err, b)
			}
		}
	}
}

func lookPath(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q: want SUM  NAME", sc.Text())
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestGoInstallFromCleanMachine proves what the README promises once the
// module is published: `go install
// github.com/jetway-dev/jetway/cmd/jetway@VERSION` works with an empty
// module cache, GOPATH and build cache. The module is not published, so
// a file-based module proxy serves the repository's HEAD as VERSION (a
// module zip made with golang.org/x/mod/zip, as the Go module proxy
// makes them, and its .info and .mod files); every dependency comes from
// the machine's own GOPROXY, checked against the checksum database as a
// user's would be. The installed binary must run and report VERSION.
func TestGoInstallFromCleanMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads every dependency into an empty module cache")
	}
	for _, tool := range []string{"go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s missing: %v", tool, err)
		}
	}
	const (
		module  = "github.com/jetway-dev/jetway"
		version = "v0.0.0-e2e.1"
	)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "HEAD").CombinedOutput(); err != nil {
		t.Skipf("not a git checkout, so there is no commit to publish: %v %s", err, out)
	}
	upstream := goEnv(t, "GOPROXY")
	if upstream == "" || upstream == "off" {
		t.Skipf("GOPROXY is %q: the dependencies cannot be downloaded", upstream)
	}

	// The proxy: DIR/github.com/jetway-dev/jetway/@v/{list,VERSION.info,.mod,.zip}.
	proxy := t.TempDir()
	at := filepath.Join(proxy, filepath.FromSlash(module), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	makeModuleZip(t, root, module, version, filepath.Join(at, version+".zip"))
	gomod, err := exec.Command("git", "-C", root, "show", "HEAD:go.mod").Output()
	if err != nil {
		t.Fatalf("git show HEAD:go.mod: %v", err)
	}
	info := `{"Version":"` + version + `","Time":"` + time.Now().UTC().Format(time.RFC3339) + `"}` + "\n"
	for name, data := range map[string][]byte{version + ".mod": gomod, version + ".info": []byte(info), "list": []byte(version + "\n")} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A clean machine: nothing cached, nothing installed, no go.work or
	// module around the command.
	clean := t.TempDir()
	modcache := filepath.Join(clean, "modcache")
	gopath := filepath.Join(clean, "gopath")
	env := cleanGoEnv(map[string]string{
		"GOPROXY":     "file://" + filepath.ToSlash(proxy) + "," + upstream,
		"GONOSUMDB":   "github.com/jetway-dev/*",
		"GOFLAGS":     "-mod=mod",
		"GOMODCACHE":  modcache,
		"GOPATH":      gopath,
		"GOCACHE":     filepath.Join(clean, "gocache"),
		"GOBIN":       "",
		"GOENV":       "off",
		"GOWORK":      "off",
		"GOTOOLCHAIN": "local",
		"CGO_ENABLED": "0",
		"HOME":        filepath.Join(clean, "home"),
	})
	t.Cleanup(func() {
		// The module cache is read-only; go clean removes it.
		cmd := exec.Command("go", "clean", "-modcache")
		cmd.Env, cmd.Dir = env, clean
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go clean -modcache: %v\n%s", err, out)
		}
	})
	start := time.Now()
	cmd := exec.Command("go", "install", module+"/cmd/jetway@"+version)
	cmd.Env, cmd.Dir = env, clean
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s/cmd/jetway@%s: %v\n%s", module, version, err, out)
	}
	t.Logf("go install from an empty module cache took %s", time.Since(start).Round(time.Second))

	bin := filepath.Join(gopath, "bin", "jetway")
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "jetway "+version+"\n") {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
}

// goEnv is the machine's value of a go env variable.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// cleanGoEnv is this process's environment without any GO* setting or
// the variables set, with set added.
func cleanGoEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := set[name]; ok || strings.HasPrefix(name, "GO") {
			continue
		}
		env = append(env, kv)
	}
	for name, value := range set {
		env = append(env, name+"="+value)
	}
	return env
}

// makeModuleZip writes the module zip of root's HEAD commit to dst, as
// the Go module proxy makes it: golang.org/x/mod/zip, run from a
// throw-away module so that jetway itself does not depend on x/mod.
// HEAD, not the working tree: uncommitted files are not published.
func makeModuleZip(t *testing.T, root, module, version, dst string) {
	t.Helper()
	dir := t.TempDir()
	const modVersion = "v0.42.0"
	files := map[string]string{
		"go.mod": "module ziptool\n\ngo 1.22\n\nrequire golang.org/x/mod " + modVersion + "\n",
		"main.go": `package main

import (
	"log"
	"os"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	root, path, version, dst := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	f, err := os.Create(dst)
	if err != nil {
		log.Fatal(err)
	}
	if err := zip.CreateFromVCS(f, module.Version{Path: path, Version: version}, root, "HEAD", ""); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "run", "-mod=mod", ".", root, module, version, dst)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making the module zip with golang.org/x/mod/zip: %v\n%s", err, out)
	}
}
