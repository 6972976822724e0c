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
