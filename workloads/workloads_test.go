package workloads

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tlbemu/emu/internal/elfload"
)

// sourceHash recomputes the hash build.sh records in bin/SOURCES.sha256.
func sourceHash(t *testing.T) string {
	t.Helper()
	var names []string
	for _, pat := range []string{"*.c", "*.h", "build.sh", "cflags.sh"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestSourcesMatchRecordedHash(t *testing.T) {
	rec, err := os.ReadFile("bin/SOURCES.sha256")
	if err != nil {
		t.Fatalf("%v: run go generate ./workloads", err)
	}
	if got, want := sourceHash(t), strings.TrimSpace(string(rec)); got != want {
		t.Fatalf("sources changed: run go generate ./workloads (hash %s, recorded %s)", got, want)
	}
}

func TestTable(t *testing.T) {
	wantDefaults := map[string]Params{
		"clear_refs":         {Pages: 4096, Iterations: 20, Seed: 1},
		"clear_refs_predump": {Pages: 32, Iterations: 20, Seed: 1},
		"fork_cow":           {Pages: 1024, Iterations: 10, Seed: 1},
		"madvise":            {Pages: 256, Iterations: 10, Seed: 1},
		"madvise_ipi":        {Threads: 2, Pages: 1, Iterations: 2000, Seed: 1},
		"mprotect":           {Pages: 2048, Iterations: 20, Seed: 1},
		"munmap_unrelated":   {Pages: 2048, Iterations: 10, Seed: 1},
		"page_fault":         {Pages: 256, Iterations: 10, Seed: 1},
		"tlb_flush2":         {Pages: 256, Iterations: 4, Seed: 1},
		"tlb_flush2_away":    {Pages: 256, Iterations: 4, Seed: 1},
		"tlb_flush2_lru":     {Pages: 256, Iterations: 4, Seed: 1},
		"uffd_wp":            {Threads: 3, Pages: 2048, Iterations: 60, Seed: 1},
	}
	ws := All()
	if len(ws) != len(wantDefaults) {
		t.Fatalf("All() has %d workloads, want %d", len(ws), len(wantDefaults))
	}
	if !slices.IsSortedFunc(ws, func(a, b *Workload) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("All() not sorted by name")
	}
	for _, w := range ws {
		if got, want := w.Defaults, wantDefaults[w.Name]; got != want {
			t.Errorf("%s: Defaults = %+v, want %+v", w.Name, got, want)
		}
		if w.Summary == "" || strings.Contains(w.Summary, "\n") {
			t.Errorf("%s: Summary %q is not one non-empty line", w.Name, w.Summary)
		}
		if len(w.Doc) < 100 {
			t.Errorf("%s: Doc too short: %q", w.Name, w.Doc)
		}
		if _, err := os.Stat(w.Name + ".c"); err != nil {
			t.Errorf("%s: no source: %v", w.Name, err)
		}
		if got, err := Lookup(w.Name); err != nil || got != w {
			t.Errorf("Lookup(%q) = %p, %v; want %p, nil", w.Name, got, err, w)
		}
	}
	// Every committed ELF belongs to a workload.
	elfs, _ := filepath.Glob("bin/*.elf")
	if len(elfs) != len(ws) {
		t.Errorf("bin/ has %d ELFs %v, want %d", len(elfs), elfs, len(ws))
	}
	// All returns a copy.
	ws[0] = nil
	if All()[0] == nil {
		t.Errorf("All() exposes the internal table")
	}
}

func TestArgv(t *testing.T) {
	w, err := Lookup("clear_refs")
	if err != nil {
		t.Fatal(err)
	}
	got := w.Argv(Params{Threads: 3, Pages: 4096, Iterations: 20, Seed: 18446744073709551615})
	want := []string{"/clear_refs", "3", "4096", "20", "18446744073709551615"}
	if !slices.Equal(got, want) {
		t.Errorf("Argv = %q, want %q", got, want)
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("x")
	if err == nil {
		t.Fatal("Lookup(\"x\") succeeded")
	}
	want := `unknown workload "x" (valid: clear_refs, clear_refs_predump, fork_cow, madvise, madvise_ipi, mprotect, munmap_unrelated, page_fault, tlb_flush2, tlb_flush2_away, tlb_flush2_lru, uffd_wp)`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if !errors.Is(err, ErrUnknown) {
		t.Errorf("error does not wrap ErrUnknown")
	}
}

func TestELFsLoad(t *testing.T) {
	for _, w := range All() {
		t.Run(w.Name, func(t *testing.T) {
			im, err := elfload.Load(w.ELF)
			if err != nil {
				t.Fatalf("elfload.Load: %v", err)
			}
			f, err := elf.NewFile(bytes.NewReader(w.ELF))
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != elf.ET_EXEC || f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
				t.Errorf("type %v machine %v class %v, want ET_EXEC EM_X86_64 ELFCLASS64", f.Type, f.Machine, f.Class)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC || p.Type == elf.PT_TLS {
					t.Errorf("has %v", p.Type)
				}
			}
			inExec := false
			for _, s := range im.Segments {
				if s.Exec && im.Entry >= s.Vaddr && im.Entry < s.End() {
					inExec = true
				}
				if s.Write && s.Exec {
					t.Errorf("segment at %#x is writable and executable", s.Vaddr)
				}
			}
			if !inExec {
				t.Errorf("entry %#x not in an executable segment", im.Entry)
			}
			if sym := symbol(t, f, "_start"); sym != im.Entry {
				t.Errorf("entry %#x, want _start at %#x", im.Entry, sym)
			}
		})
	}
}

func symbol(t *testing.T, f *elf.File, name string) uint64 {
	t.Helper()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no symbol %s", name)
	return 0
}

// TestRebuildIsReproducible rebuilds the programs with the local gcc and
// compares them with the committed ELFs. It runs only when the local
// toolchain is the one recorded in bin/TOOLCHAIN.
func TestRebuildIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc on PATH")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "build.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	recorded, err := os.ReadFile("bin/TOOLCHAIN")
	if err != nil {
		t.Fatal(err)
	}
	local, err := os.ReadFile(filepath.Join(out, "TOOLCHAIN"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(local, recorded) {
		t.Skipf("local toolchain\n%s differs from the recorded one\n%s", local, recorded)
	}
	for _, w := range All() {
		b, err := os.ReadFile(filepath.Join(out, w.Name+".elf"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, w.ELF) {
			t.Errorf("%s: rebuilt ELF differs from bin/%s.elf: run go generate ./workloads", w.Name, w.Name)
		}
	}
	rebuiltHash, err := os.ReadFile(filepath.Join(out, "SOURCES.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(rebuiltHash)); got != sourceHash(t) {
		t.Errorf("build.sh hash %s, Go hash %s: the two hash computations disagree", got, sourceHash(t))
	}
}

// TestRunNative runs every program on the host kernel with small
// arguments: each must exit 0 and print nothing but its report: the ops
// report of the will-it-scale style ones (ParseOps), one line per thread
// with every op, or the counters of Workload.Reports.
func TestRunNative(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("needs linux/amd64")
	}
	for _, w := range All() {
		t.Run(w.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), w.Name)
			if err := os.WriteFile(path, w.ELF, 0o755); err != nil {
				t.Fatal(err)
			}
			args := w.Argv(Params{Threads: 3, Pages: 64, Iterations: 4, Seed: 7})[1:]
			out, err := exec.Command(path, args...).CombinedOutput()
			if errors.Is(err, os.ErrPermission) {
				t.Skipf("cannot execute from the temp dir: %v", err)
			}
			if err != nil {
				if w.Name == "uffd_wp" && bytes.Contains(out, []byte("userfaultfd (errno")) {
					t.Skipf("host denies userfaultfd: %s", out)
				}
				if strings.HasPrefix(w.Name, "clear_refs") && bytes.Contains(out, []byte("clear_refs (errno")) {
					t.Skipf("host has no /proc/self/clear_refs: %s", out)
				}
				t.Fatalf("%s %s: %v\n%s", w.Name, strings.Join(args, " "), err, out)
			}
			if w.Ops {
				o, _, err := ParseOps(out)
				if err != nil {
					t.Fatal(err)
				}
				if o.Threads == 0 || o.Ops == 0 || o.Cycles == 0 {
					t.Errorf("report %+v, want threads, ops and cycles > 0", o)
				}
				// tlb_flush2*: every thread stores every page of every pass.
				if want := (Ops{Threads: 3, Ops: 3 * 64 * 4}); strings.HasPrefix(w.Name, "tlb_flush2") && (o.Threads != want.Threads || o.Ops != want.Ops) {
					t.Errorf("report %+v, want %d threads, %d ops", o, want.Threads, want.Ops)
				}
				for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
					if !strings.HasPrefix(l, "emu-ops ") {
						t.Errorf("output besides the report: %q", l)
					}
				}
			}
			if _, err := w.Report(out); err != nil {
				t.Errorf("output on success: %v", err)
			} else if !w.Ops && len(w.Reports) == 0 && len(out) != 0 {
				t.Errorf("output on success: %q", out)
			}
		})
	}
}

// TestReadmeWorkloads: README's Workloads table has one row per workload,
// in table order, with its default -pages, -iterations and CPU count.
func TestReadmeWorkloads(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Workloads\n")
	if !ok {
		t.Fatal("README has no Workloads section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var rows [][]string
	for _, l := range strings.Split(sec, "\n") {
		if strings.HasPrefix(l, "| `") {
			rows = append(rows, strings.Split(l, " | "))
		}
	}
	ws := All()
	if len(rows) != len(ws) {
		t.Fatalf("README's Workloads table has %d rows, want %d", len(rows), len(ws))
	}
	for i, w := range ws {
		r := rows[i]
		cpus := w.CPUs
		if cpus == 0 {
			cpus = 2 // emu's default
		}
		if len(r) != 5 || r[0] != "| `"+w.Name+"`" || !startsWithNumber(r[2], w.Defaults.Pages) ||
			!startsWithNumber(r[3], w.Defaults.Iterations) || !startsWithNumber(r[4], cpus) {
			t.Errorf("README row %d %q: want workload %s, -pages %d, -iterations %d, %d CPUs", i, strings.Join(r, " | "), w.Name, w.Defaults.Pages, w.Defaults.Iterations, cpus)
		}
	}
}

func startsWithNumber(cell string, n int) bool {
	f := strings.Fields(cell)
	return len(f) > 0 && strings.TrimRight(f[0], ",:") == strconv.Itoa(n)
}
