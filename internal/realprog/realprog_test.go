package realprog

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// program is one test program, testdata/NAME.c, compared with its native
// run.
type program struct {
	name  string
	args  []string
	flags []string // emu run flags
	short bool     // in the -short subset
}

var programs = []program{
	{name: "hello", args: []string{"one", "two words", ""}, short: true},
	{name: "floats", short: true},
	{name: "malloc"},
	{name: "threads", short: true},
	{name: "threads", flags: []string{"-cpus", "4"}},
	{name: "mm"},
	{name: "abort", short: true},
	{name: "segv"},
	{name: "vmalock", flags: []string{"-cpus", "2"}},
	{name: "vmalock", flags: []string{"-kernel", "6.18", "-cpus", "4"}},
}

// needs lists what stops the tests against the current emu (see need).
var needs = []need{
	// SSE2 integer (sseint): the first SSE instruction of nearly every
	// program (musl: vfprintf, pthread_create, free; glibc: _dl_aux_init).
	{"TestNative/hello/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
	{"TestNative/hello/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestNative/floats/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestNative/malloc/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl free)"},
	{"TestNative/malloc/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestNative/threads/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl pthread_create)"},
	{"TestNative/threads/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestNative/threads/musl/-cpus4", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl pthread_create)"},
	{"TestNative/threads/glibc/-cpus4", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestNative/mm/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
	{"TestNative/mm/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestNative/abort/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
	{"TestNative/abort/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestNative/segv/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
	{"TestNative/segv/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestSoftDirty/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestSoftDirtyBaseline/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestWillItScaleTLBFlush2/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestWillItScaleTLBFlush2/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl pthread_barrier_init)"},
	// SSE2 moves (sseint or ssefp): MOVSD xmm, m64 loads a double constant.
	{"TestNative/floats/musl", "(movsd xmm0, qword ptr", "MOVSD xmm, m64 (F2 0F 10; main's double constants)"},
	{"TestAVXIsSIGILL/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
	{"TestAVXIsSIGILL/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	{"TestRelativePath/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
	{"TestRelativePath/glibc", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; glibc _dl_aux_init)"},
	// The Linux ABI: readlink("/proc/self/exe") returns the path as
	// given, not the absolute one Linux's d_path gives.
	{"TestRelativePath/glibc", "_dl_get_origin: Assertion `linkval[0] == '/'' failed", "readlink(\"/proc/self/exe\") giving an absolute path (kernelmodel/fs.go)"},
	{"TestSoftDirty/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
	{"TestSoftDirtyBaseline/musl", "(pxor xmm0, xmm0)", "PXOR xmm, xmm (66 0F EF; musl vfprintf)"},
}

// TestNative runs every program under emu and requires stdout, stderr and
// the exit status to be those of the native run.
func TestNative(t *testing.T) {
	for _, p := range programs {
		for _, lc := range libcs {
			name := p.name + "/" + lc.name
			if len(p.flags) > 0 {
				name += "/" + strings.Join(p.flags, "")
			}
			t.Run(name, func(t *testing.T) {
				if testing.Short() && !p.short {
					t.Skip("not in the -short subset")
				}
				bin := binary(t, lc, p.name)
				native := runNative(t, bin, p.args...)
				emu, _ := runEmu(t, p.flags, bin, p.args...)
				compare(t, native, emu)
			})
		}
	}
}

// TestRelativePath runs a program by a relative path, as a user types
// `emu run ./a.out`: glibc's static startup (_dl_non_dynamic_init →
// _dl_get_origin) asserts that readlink("/proc/self/exe") is absolute, as
// Linux's d_path makes it.
func TestRelativePath(t *testing.T) {
	for _, lc := range libcs {
		t.Run(lc.name, func(t *testing.T) {
			src := binary(t, lc, "hello")
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "hello"), b, 0o755); err != nil {
				t.Fatal(err)
			}
			runDir = dir
			defer func() { runDir = "" }()
			native := runNative(t, "./hello", "x")
			emu, _ := runEmu(t, nil, "./hello", "x")
			compare(t, native, emu)
		})
	}
}

// TestNativeSelfCheck pins what the native runs print where the programs
// promise something independent of the libc: a wrong program would
// otherwise make emu and native agree on nonsense.
func TestNativeSelfCheck(t *testing.T) {
	cases := []struct {
		name   string
		status int
		want   []string // lines of stdout or stderr
	}{
		{"hello", 3, []string{"hello, world", "argc=4", "argv[2]=two words (9)", "argv[3]= (0)", "to stderr"}},
		{"floats", 0, []string{"sqrt(2) = 1.4142135623730951", "ld sqrt(2) = 1.41421356237309504876", "strtod(\"0x1.8p1\") = 3 rest=\"\""}},
		{"malloc", 0, []string{"qsort ints: sorted=1 sum-kept=1", "string checks: 1120, failures: 0"}},
		{"threads", 0, []string{"locked=80000 atomic=80000 rets=600", "order=" + strings.Repeat("0123", 25)}},
		{"mm", 0, []string{"dontneed range zero: 1", "remapped read-only sum 0", "sparse 16M: first bytes of its pages sum to 16"}},
		{"abort", 134, []string{"about to abort"}},
		{"segv", 139, []string{"read 0, now writing"}},
	}
	for _, c := range cases {
		for _, lc := range libcs {
			t.Run(c.name+"/"+lc.name, func(t *testing.T) {
				if testing.Short() && !lc.committed {
					t.Skip("not in the -short subset (builds)")
				}
				bin := binary(t, lc, c.name)
				var args []string
				if c.name == "hello" {
					args = programs[0].args
				}
				r := runNative(t, bin, args...)
				if r.status != c.status {
					t.Errorf("exit status %d, want %d", r.status, c.status)
				}
				out := string(r.stdout) + string(r.stderr)
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s", w, out)
					}
				}
			})
		}
	}
}

// TestSoftDirty runs the CRIU-style tracker under 5.10-stable (whose
// clear_refs flushes the TLB) and requires testdata/softdirty.golden,
// the pagemap that v5.10's fs/proc/task_mmu.c produces: after
// clear_refs, pte_to_pagemap_entry sets bit 55 exactly on the pages
// written since (wp fault or first-touch write fault: pte_mkdirty), and a
// new VMA (VM_SOFTDIRTY) reports every page. The native run is compared
// with the golden file too when this machine's kernel has
// CONFIG_MEM_SOFT_DIRTY (it then shows soft-dirty pages right after the
// mmap).
func TestSoftDirty(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "softdirty.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lc := range libcs {
		t.Run(lc.name, func(t *testing.T) {
			bin := binary(t, lc, "softdirty")
			native := runNative(t, bin)
			if native.status != 0 {
				t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
			}
			switch {
			case bytes.Equal(native.stdout, golden):
			case !bytes.Contains(native.stdout, []byte("D")):
				t.Logf("this kernel reports no soft-dirty pages (no CONFIG_MEM_SOFT_DIRTY); emu is compared with testdata/softdirty.golden only")
			default:
				t.Errorf("native run differs from testdata/softdirty.golden:\n%s", native.stdout)
			}
			emu, _ := runEmu(t, []string{"-kernel", "5.10-stable"}, bin)
			compare(t, result{stdout: golden, stderr: native.stderr}, emu)
		})
	}
}

// TestSoftDirtyBaseline runs the tracker under plain v5.10, whose
// clear_refs leaves writable TLB entries behind: a write through one
// sets no soft-dirty bit. The pages it shows dirty must be a subset of
// the golden ones, and each missing one must be counted by emu as
// emu_lost_soft_dirty.
func TestSoftDirtyBaseline(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "softdirty.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lc := range libcs {
		t.Run(lc.name, func(t *testing.T) {
			if testing.Short() && lc.name != "musl" {
				t.Skip("not in the -short subset")
			}
			bin := binary(t, lc, "softdirty")
			emu, report := runEmu(t, []string{"-kernel", "5.10", "-json"}, bin)
			if emu.status != 0 || len(emu.stderr) > 0 || !bytes.HasPrefix(emu.stdout, []byte("populated")) {
				skipIfNeeds(t, emu)
				t.Fatalf("emu: status %d\nstdout:\n%s\nstderr:\n%s", emu.status, clip(emu.stdout), clip(emu.stderr))
			}
			got := strings.Split(string(emu.stdout), "\n")
			want := strings.Split(string(golden), "\n")
			if len(got) != len(want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), emu.stdout)
			}
			missing := 0
			for i := range want {
				g, w := []byte(got[i]), []byte(want[i])
				if len(g) != len(w) {
					t.Fatalf("line %d: %q, want the shape of %q", i+1, g, w)
				}
				for k := range w {
					switch {
					case g[k] == w[k]:
					case g[k] == '.' && w[k] == 'D':
						missing++
					default:
						t.Errorf("line %d col %d: %q, want %q (only missing soft-dirty bits may differ)", i+1, k+1, g, w)
					}
				}
			}
			lost := counters(t, report)["emu_lost_soft_dirty"]
			t.Logf("v5.10 baseline: %d soft-dirty pages missing, emu_lost_soft_dirty %v", missing, lost)
			if missing > 0 && lost == 0 {
				t.Errorf("%d soft-dirty bits missing but emu_lost_soft_dirty is 0", missing)
			}
		})
	}
}

var shootdownsRE = regexp.MustCompile(`(?m)^TLB shootdowns:(\d+)$`)

// TestWillItScaleTLBFlush2 runs the tlb_flush2-style testcase with three
// worker threads on four emulated CPUs and requires the TLB shootdowns
// the guest reads from its own /proc/interrupts to be emu's
// interrupts.TLB, and more than zero. The threads run in a forked child
// that the reading parent reaps, so the guest's window holds every TLB
// interrupt of the run, those of the child's exit_mmap included (the
// single-threaded parent's own exit flushes no other CPU). A rerun with
// GOMAXPROCS=1 must give the same output and count.
func TestWillItScaleTLBFlush2(t *testing.T) {
	iter := "10"
	if testing.Short() {
		iter = "3"
	}
	for _, lc := range libcs {
		t.Run(lc.name, func(t *testing.T) {
			if testing.Short() && lc.name != "musl" {
				t.Skip("not in the -short subset")
			}
			bin := binary(t, lc, "tlbflush2")
			native := runNative(t, bin, "3", iter)
			if native.status != 0 || !shootdownsRE.Match(native.stdout) {
				t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
			}
			emu, report := runEmu(t, []string{"-cpus", "4", "-json"}, bin, "3", iter)
			// The shootdown count is the machine's; the rest must agree.
			strip := func(b []byte) []byte { return shootdownsRE.ReplaceAll(b, nil) }
			compare(t, result{stdout: strip(native.stdout), stderr: native.stderr}, result{stdout: strip(emu.stdout), stderr: emu.stderr, status: emu.status})
			if t.Failed() {
				return
			}
			m := shootdownsRE.FindSubmatch(emu.stdout)
			if m == nil {
				t.Fatalf("no TLB shootdowns line:\n%s", emu.stdout)
			}
			guest, _ := strconv.ParseFloat(string(m[1]), 64)
			emuTLB, ok := counters(t, report)["interrupts.TLB"]
			if !ok {
				t.Fatal("no interrupts.TLB counter in emu's JSON result")
			}
			if guest != emuTLB || guest == 0 {
				t.Errorf("guest's /proc/interrupts TLB delta %v, emu's interrupts.TLB %v (want equal and > 0)", guest, emuTLB)
			}
			t.Logf("TLB shootdowns: guest %v, emu %v, native (this machine) %s", guest, emuTLB, shootdownsRE.FindSubmatch(native.stdout)[1])
			// The same flags and seed give the same run whatever the
			// host's parallelism.
			emuEnv = []string{"GOMAXPROCS=1"}
			defer func() { emuEnv = nil }()
			again, report2 := runEmu(t, []string{"-cpus", "4", "-json"}, bin, "3", iter)
			if !bytes.Equal(again.stdout, emu.stdout) || counters(t, report2)["interrupts.TLB"] != emuTLB {
				t.Errorf("GOMAXPROCS=1 rerun differs: stdout\n%s\ninterrupts.TLB %v", again.stdout, counters(t, report2)["interrupts.TLB"])
			}
		})
	}
}

// TestCommittedBinariesReproducible rebuilds each committed binary from
// its source and requires the same bytes (with -update, rewrites them).
func TestCommittedBinariesReproducible(t *testing.T) {
	srcs, err := filepath.Glob(filepath.Join("testdata", "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no sources: %v", err)
	}
	for _, lc := range libcs {
		if !lc.committed {
			continue
		}
		for _, src := range srcs {
			name := strings.TrimSuffix(filepath.Base(src), ".c")
			t.Run(name+"/"+lc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), name)
				if err := lc.compile(name, out); err != nil {
					if _, lerr := exec.LookPath(lc.compiler); lerr != nil {
						t.Skipf("%s not installed: cannot check the committed binary", lc.compiler)
					}
					t.Fatal(err)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", "bin", name+"."+lc.name)
				if *update {
					if err := os.WriteFile(path, got, 0o755); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (create it with -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s rebuilt from %s differs from the committed binary (%d vs %d bytes): regenerate with -update", path, src, len(got), len(want))
				}
			})
		}
	}
}

// TestAVXIsSIGILL runs a program that asks CPUID (libgcc's
// __builtin_cpu_supports) what the CPU has and then executes VPXOR
// anyway: under emu it must see the x86-64-v2 feature set of emu's CPUID
// model and no AVX, and die of SIGILL (status 132) at the VEX
// instruction, as on a CPU without AVX, with its earlier output intact.
func TestAVXIsSIGILL(t *testing.T) {
	const want = "sse2 1 sse3 1 ssse3 1 sse4.1 1 sse4.2 1 popcnt 1\n" +
		"avx 0 avx2 0 fma 0 bmi 0 bmi2 0 avx512f 0\n"
	for _, lc := range libcs {
		t.Run(lc.name, func(t *testing.T) {
			bin := binary(t, lc, "avx")
			native := runNative(t, bin)
			if bytes.Contains(native.stdout, []byte("avx 1")) && (native.status != 0 || !bytes.HasSuffix(native.stdout, []byte("AVX ran\n"))) {
				t.Errorf("native run on a CPU with AVX: status %d\n%s%s", native.status, native.stdout, native.stderr)
			}
			emu, _ := runEmu(t, nil, bin)
			if string(emu.stdout) == want && emu.status == 128+4 && bytes.HasPrefix(emu.stderr, []byte("emu: guest killed by SIGILL:")) {
				return
			}
			skipIfNeeds(t, emu)
			t.Errorf("emu: status %d, want 132 (SIGILL)\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", emu.status, emu.stdout, want, clip(emu.stderr))
		})
	}
}

// tlbFlush1RE matches tlbflush1's measurement line.
var tlbFlush1RE = regexp.MustCompile(`TLB IPIs per iteration: cold ([0-9.]+) warm ([0-9.]+)\n`)

// TestWillItScaleTLBFlush1 runs the tlb_flush1-shaped program under
// `emu run -cpus 2` on a /tmp (tmpfs) file and on a memfd, with
// fault-around on (fault_around_bytes 65536) and off (4096), and reads
// the IPIs per iteration the peer's CPU took from the guest's own
// /proc/interrupts. Warm passes (the file's pages in the page cache):
// fault-around maps the next page read-only, so its store is a second
// flush: ≈2 per iteration (31 per 16-page window: 1.94); without
// fault-around ≈1. The cold first pass is ≈1 either way: the next page
// is not in the cache yet. A memfd is shmem as the tmpfs file is (v5.10
// shmem_vm_ops has .map_pages = filemap_map_pages): the same figures.
func TestWillItScaleTLBFlush1(t *testing.T) {
	pages := "64"
	for _, lc := range libcs {
		t.Run(lc.name, func(t *testing.T) {
			if testing.Short() && lc.name != "musl" {
				t.Skip("not in the -short subset")
			}
			bin := binary(t, lc, "tlbflush1")
			for _, c := range []struct {
				file, faultAround string
				cold, warm        float64
			}{
				{"tmp", "65536", 1, 1.94},
				{"tmp", "4096", 1, 1},
				{"memfd", "65536", 1, 1.94},
				{"memfd", "4096", 1, 1},
			} {
				native := runNative(t, bin, c.file, pages, "3")
				emu, _ := runEmu(t, []string{"-cpus", "2", "-fault-around-bytes", c.faultAround}, bin, c.file, pages, "3")
				strip := func(b []byte) []byte { return tlbFlush1RE.ReplaceAll(b, nil) }
				compare(t, result{stdout: strip(native.stdout), stderr: native.stderr}, result{stdout: strip(emu.stdout), stderr: emu.stderr, status: emu.status})
				m := tlbFlush1RE.FindSubmatch(emu.stdout)
				if m == nil {
					t.Fatalf("%s -fault-around-bytes %s: no measurement line:\n%s", c.file, c.faultAround, emu.stdout)
				}
				cold, _ := strconv.ParseFloat(string(m[1]), 64)
				warm, _ := strconv.ParseFloat(string(m[2]), 64)
				if cold < c.cold-0.05 || cold > c.cold+0.1 || warm < c.warm-0.05 || warm > c.warm+0.1 {
					t.Errorf("%s -fault-around-bytes %s: IPIs per iteration cold %.2f warm %.2f, want ≈%.2f and ≈%.2f", c.file, c.faultAround, cold, warm, c.cold, c.warm)
				}
				nm := tlbFlush1RE.FindSubmatch(native.stdout)
				t.Logf("%s -fault-around-bytes %s: emu cold %.2f warm %.2f; native (this machine's kernel, /tmp and fault_around_bytes) cold %s warm %s", c.file, c.faultAround, cold, warm, nm[1], nm[2])
				if c.file == "tmp" && c.faultAround == "65536" {
					// the same run whatever the host's parallelism
					emuEnv = []string{"GOMAXPROCS=1"}
					again, _ := runEmu(t, []string{"-cpus", "2", "-fault-around-bytes", c.faultAround}, bin, c.file, pages, "3")
					emuEnv = nil
					if !bytes.Equal(again.stdout, emu.stdout) {
						t.Errorf("GOMAXPROCS=1 rerun differs:\n%s\nvs\n%s", again.stdout, emu.stdout)
					}
				}
			}
		})
	}
}
