package realprog

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDynamic builds testdata/dynamic/dynamic.c (testdata/dynamic holds
// the sources built only with plain, dynamic gcc; no committed binaries) with plain gcc (a dynamically
// linked PIE using the host's ld.so, libc and, through dlopen, libm) and
// requires the same stdout, stderr and exit status under emu as natively.
func TestDynamic(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	bin := filepath.Join(buildDir, "dynamic")
	if out, err := exec.Command(gcc, "-O2", "-pthread", "-o", bin, filepath.Join("testdata", "dynamic", "dynamic.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	native := runNative(t, bin, "arg")
	if native.status != 7 {
		t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
	}
	for _, cpus := range []string{"1", "2"} {
		emu, _ := runEmu(t, []string{"-cpus", cpus}, bin, "arg")
		compare(t, native, emu)
	}
}

// hostInput writes a file for a host program to read, in a directory
// that is not below the host's /tmp (which the guest's tmpfs hides), and
// returns the directory and the file.
func hostInput(t *testing.T, content []byte) (dir, file string) {
	t.Helper()
	dir, err := os.MkdirTemp(".", "hostinput")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if dir, err = filepath.Abs(dir); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "input")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// TestDebianPrograms runs dynamically linked programs from /usr/bin under
// emu on an input file seen through -ro-mount: sha256sum, and sort with a
// 4 KiB buffer and -T /tmp, so that it spills sorted runs into temporary
// files in the guest's tmpfs and merges them. Output and status must be
// the native ones.
func TestDebianPrograms(t *testing.T) {
	var in bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&in, "%d line %d\n", (i*7919)%3001, i)
	}
	dir, file := hostInput(t, in.Bytes())
	for _, c := range [][]string{
		{"/usr/bin/sha256sum", file},
		{"/usr/bin/sort", "-S", "4k", "-T", "/tmp", file},
		{"/usr/bin/sort", "-n", "-r", file},
	} {
		t.Run(filepath.Base(c[0])+strings.Join(c[1:len(c)-1], ""), func(t *testing.T) {
			if _, err := os.Stat(c[0]); err != nil {
				t.Skip(err)
			}
			native := runNative(t, c[0], c[1:]...)
			if native.status != 0 {
				t.Fatalf("native: status %d\n%s", native.status, native.stderr)
			}
			emu, _ := runEmu(t, []string{"-ro-mount", dir}, c[0], c[1:]...)
			compare(t, native, emu)
		})
	}
}

// TestDynamicAuxv checks what a PIE learns about its loading against a
// native run with ASLR off: AT_PHDR, AT_ENTRY (the PIE at
// ELF_ET_DYN_BASE, 0x555555554000), AT_PHENT, AT_PHNUM, AT_BASE set, and
// the executable's mappings in /proc/self/maps (addresses, permissions,
// file offsets).
func TestDynamicAuxv(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	setarch, err := exec.LookPath("setarch")
	if err != nil {
		t.Skip("setarch not installed: cannot run natively with ASLR off")
	}
	bin := filepath.Join(buildDir, "auxv")
	if out, err := exec.Command(gcc, "-O2", "-o", bin, filepath.Join("testdata", "dynamic", "auxv.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	native := runNative(t, setarch, "x86_64", "-R", bin, bin)
	if native.status != 0 || !bytes.Contains(native.stdout, []byte("AT_ENTRY 0x5555555")) {
		t.Skipf("native run with ASLR off did not load at ELF_ET_DYN_BASE (status %d): %s%s", native.status, native.stdout, native.stderr)
	}
	emu, _ := runEmu(t, nil, bin, bin)
	compare(t, native, emu)
}

// TestHostFilesReadOnly: under emu a guest can read host files below the
// mounts but not write, truncate, create or delete one (EROFS), and a
// host path outside every mount does not exist (ENOENT). The binary and
// its directory are unchanged after the run.
func TestHostFilesReadOnly(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	dir, _ := hostInput(t, nil) // a directory outside the host's /tmp
	bin := filepath.Join(dir, "hostfiles")
	if out, err := exec.Command(gcc, "-O2", "-o", bin, filepath.Join("testdata", "dynamic", "hostfiles.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	before, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	emu, _ := runEmu(t, nil, bin)
	want := "open O_WRONLY: EROFS\nopen O_RDWR: EROFS\nopen O_TRUNC: EROFS\ncreate: EROFS\nunlink: EROFS\noutside the mounts: ENOENT\nread own ELF: ok magic ok\n"
	if string(emu.stdout) != want || emu.status != 0 {
		t.Errorf("status %d, stdout:\n%s\nwant:\n%s", emu.status, emu.stdout, want)
	}
	after, err := os.ReadFile(bin)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the binary changed (%v)", err)
	}
	if _, err := os.Stat(bin + ".new"); err == nil {
		t.Error("a file was created on the host")
	}
}
