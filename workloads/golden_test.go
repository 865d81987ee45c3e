package workloads

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tlbemu/emu/kernelmodel"
)

// The golden tests run every workload on the kernel model with small fixed
// parameters, on the v5.10 baseline and on each variant, and compare every
// counter of Stats() with testdata/golden/<workload>@<variant>.txt (one
// "counter value" line per counter). The model is deterministic, so any
// difference is a behaviour change: inspect it, then rewrite the files with
//
//	go test ./workloads -run TestGolden -update

var update = flag.Bool("update", false, "rewrite testdata/golden from the current model")

// goldenVariant is a kernel baseline plus patches.
type goldenVariant struct {
	name    string
	kernel  string
	patches []kernelmodel.Patch
}

var goldenVariants = []goldenVariant{
	{"5.10", "5.10", nil},
	{"5.10-stable", "5.10-stable", nil},
	{"pte-fault-flush-pending", "5.10", []kernelmodel.Patch{kernelmodel.PatchPTEFaultFlushPending}},
	{"uffd-wp-flush-pending", "5.10", []kernelmodel.Patch{kernelmodel.PatchUffdWPFlushPending}},
	{"clear-refs-flush", "5.10", []kernelmodel.Patch{kernelmodel.PatchClearRefsFlush}},
	{"clear-refs-mmap-write-lock", "5.10", []kernelmodel.Patch{kernelmodel.PatchClearRefsMmapWriteLock}},
	{"pte-fault-flush-pending+clear-refs-flush", "5.10", []kernelmodel.Patch{kernelmodel.PatchPTEFaultFlushPending, kernelmodel.PatchClearRefsFlush}},
	{"6.18", "6.18", nil},
}

// goldenRun is one workload's small configuration: each run takes well
// under a second.
type goldenRun struct {
	cpus int
	p    Params
}

var goldenRuns = map[string]goldenRun{
	"clear_refs":         {2, Params{Threads: 1, Pages: 256, Iterations: 5, Seed: 1}},
	"clear_refs_predump": {2, Params{Threads: 1, Pages: 32, Iterations: 5, Seed: 1}},
	"fork_cow":           {3, Params{Threads: 2, Pages: 128, Iterations: 3, Seed: 1}},
	"madvise":            {3, Params{Threads: 2, Pages: 16, Iterations: 3, Seed: 1}},
	"madvise_ipi":        {2, Params{Threads: 2, Pages: 1, Iterations: 50, Seed: 1}},
	"mprotect":           {3, Params{Threads: 2, Pages: 128, Iterations: 3, Seed: 1}},
	"munmap_unrelated":   {4, Params{Threads: 3, Pages: 1024, Iterations: 4, Seed: 1}},
	"page_fault":         {2, Params{Threads: 2, Pages: 32, Iterations: 3, Seed: 1}},
	"tlb_flush2":         {3, Params{Threads: 2, Pages: 64, Iterations: 2, Seed: 1}},
	"tlb_flush2_away":    {3, Params{Threads: 2, Pages: 64, Iterations: 2, Seed: 1}},
	"tlb_flush2_lru":     {3, Params{Threads: 2, Pages: 64, Iterations: 2, Seed: 1}},
	"uffd_wp":            {4, Params{Threads: 3, Pages: 64, Iterations: 4, Seed: 1}},
}

// runModel runs workload name with its golden parameters on variant v and
// returns the counters by name. The guest must exit 0.
func runModel(t *testing.T, name string, v goldenVariant) map[string]uint64 {
	t.Helper()
	r, ok := goldenRuns[name]
	if !ok {
		t.Fatalf("no golden parameters for %s", name)
	}
	return runWith(t, name, r.cpus, r.p, v)
}

func runWith(t *testing.T, name string, cpus int, p Params, v goldenVariant, tweak ...func(*kernelmodel.Config)) map[string]uint64 {
	t.Helper()
	w, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := kernelmodel.DefaultConfig()
	cfg.CPUs = cpus
	cfg.MemBytes = 128 << 20
	cfg.Kernel = v.kernel
	cfg.Patches = v.patches
	cfg.MaxCycles = 2_000_000_000
	for _, f := range tweak {
		f(&cfg)
	}
	m, err := kernelmodel.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(w.ELF, w.Argv(p)); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("%s on %s: %v", name, v.name, err)
	}
	if m.ExitCode() != 0 {
		t.Fatalf("%s on %s: guest exited with status %d", name, v.name, m.ExitCode())
	}
	st := m.Stats()
	gc, err := w.Report(m.Output())
	if err != nil {
		t.Fatalf("%s on %s: %v", name, v.name, err)
	}
	for _, c := range gc {
		st.Counters = append(st.Counters, kernelmodel.Counter(c))
	}
	out := make(map[string]uint64, len(st.Counters))
	for _, c := range st.Counters {
		out[c.Name] = c.Value
	}
	return out
}

// format renders counters one per line, sorted by name.
func format(c map[string]uint64) []byte {
	var b bytes.Buffer
	for _, n := range counterOrder(c) {
		fmt.Fprintf(&b, "%s %d\n", n, c[n])
	}
	return b.Bytes()
}

// counterOrder returns the counter names sorted (the golden files are
// sorted so that a new counter shows up as one added line).
func counterOrder(c map[string]uint64) []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func parseGolden(t *testing.T, b []byte) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad golden line %q: %v", sc.Text(), err)
		}
		out[f[0]] = v
	}
	return out
}

func goldenPath(name string, v goldenVariant) string {
	return filepath.Join("testdata", "golden", name+"@"+v.name+".txt")
}

func TestGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, w := range All() {
		for _, v := range goldenVariants {
			t.Run(w.Name+"@"+v.name, func(t *testing.T) {
				t.Parallel()
				got := runModel(t, w.Name, v)
				path := goldenPath(w.Name, v)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, format(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				want := parseGolden(t, b)
				for _, n := range counterOrder(union(got, want)) {
					g, gok := got[n]
					w, wok := want[n]
					switch {
					case !gok:
						t.Errorf("%s: in the golden file (%d) but not counted any more", n, w)
					case !wok:
						t.Errorf("%s: counted (%d) but not in the golden file", n, g)
					case g != w:
						t.Errorf("%s = %d, golden %d", n, g, w)
					}
				}
			})
		}
	}
}

func union(a, b map[string]uint64) map[string]uint64 {
	u := make(map[string]uint64, len(a))
	for k, v := range a {
		u[k] = v
	}
	for k, v := range b {
		u[k] = v
	}
	return u
}

// TestDeterministic runs every workload twice on the baseline: the counters
// must be identical.
func TestDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	base := goldenVariants[0]
	for _, w := range All() {
		t.Run(w.Name, func(t *testing.T) {
			t.Parallel()
			a, b := runModel(t, w.Name, base), runModel(t, w.Name, base)
			for _, n := range counterOrder(a) {
				if a[n] != b[n] {
					t.Errorf("%s: %d, then %d", n, a[n], b[n])
				}
			}
		})
	}
}

// variant returns the golden variant called name.
func variant(t *testing.T, name string) goldenVariant {
	t.Helper()
	for _, v := range goldenVariants {
		if v.name == name {
			return v
		}
	}
	t.Fatalf("no variant %q", name)
	return goldenVariant{}
}

// hazards is the sum the detector reports as emu_stale_tlb_writes.
func hazards(c map[string]uint64) uint64 { return c["emu_stale_tlb_writes"] }

// TestClearRefsConclusions asserts, for clear_refs, what Yu Zhao's proposal
// (LKML 23 Dec 2020, Message-ID X+PE38s2Egq4nzKv@google.com) does against
// clear_refs_write (fs/proc/task_mmu.c, v5.10) and its fixes: v5.10
// loses soft-dirty marks through stale TLB entries; 5.10-stable does not;
// the proposal (pte-fault-flush-pending) alone does not close the hole,
// because v5.10's clear_refs drops tlb_flush_pending without flushing;
// together with 912efa17e512 (clear-refs-flush) it does.
func TestClearRefsConclusions(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, c := range []struct {
		variant string
		hole    bool
	}{
		{"5.10", true},
		{"5.10-stable", false},
		{"pte-fault-flush-pending", true},
		{"pte-fault-flush-pending+clear-refs-flush", false},
		{"clear-refs-flush", false},
	} {
		got := runModel(t, "clear_refs", variant(t, c.variant))
		if hole := got["emu_lost_soft_dirty"] > 0; hole != c.hole {
			t.Errorf("clear_refs@%s: emu_lost_soft_dirty = %d, want hole=%v", c.variant, got["emu_lost_soft_dirty"], c.hole)
		}
		if !c.hole && hazards(got) != 0 {
			t.Errorf("clear_refs@%s: %d stale-TLB hazards, want 0", c.variant, hazards(got))
		}
	}
}

// TestNoHazardWhereFixed: every workload is hazard-free on 5.10-stable and
// with the proposal plus clear-refs-flush.
func TestNoHazardWhereFixed(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, w := range All() {
		for _, v := range []string{"5.10-stable", "pte-fault-flush-pending+clear-refs-flush"} {
			if got := runModel(t, w.Name, variant(t, v)); hazards(got) != 0 {
				t.Errorf("%s@%s: %d stale-TLB hazards (after-cow %d, soft-dirty %d, uffd-wp %d), want 0",
					w.Name, v, hazards(got), got["emu_write_after_cow"], got["emu_lost_soft_dirty"], got["emu_missed_uffd_wp"])
			}
		}
	}
}

// TestMunmapUnrelatedCost asserts Lutomirski's objection: with the
// proposal, write faults taken while an unrelated munmap holds
// tlb_flush_pending flush, which costs remote flushes and lengthens the
// PTE-lock hold (the flush runs under the PTL), so other faults wait longer.
func TestMunmapUnrelatedCost(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	// At 2 CPUs, as README's table (271 -> 542 remote flushes at the
	// defaults). At the golden size (4 CPUs, 3 threads) the munmaps alone
	// flush remotely ~4,000 times and the proposal's 126 flush-pending
	// flushes do not move that count beyond the seed's jitter (4,026 vs
	// 4,023 at seed 1), so it is not the place to pin the extra cost.
	p := goldenRuns["munmap_unrelated"].p
	p.Threads = 1
	base := runWith(t, "munmap_unrelated", 2, p, variant(t, "5.10"))
	yu := runWith(t, "munmap_unrelated", 2, p, variant(t, "pte-fault-flush-pending"))
	if base["emu_flush_pending_flushes"] != 0 {
		t.Errorf("baseline emu_flush_pending_flushes = %d, want 0", base["emu_flush_pending_flushes"])
	}
	if yu["emu_flush_pending_flushes"] == 0 {
		t.Errorf("pte-fault-flush-pending: emu_flush_pending_flushes = 0, want > 0")
	}
	if yu["nr_tlb_remote_flush"] <= base["nr_tlb_remote_flush"] {
		t.Errorf("nr_tlb_remote_flush: proposal %d, baseline %d; want more with the proposal", yu["nr_tlb_remote_flush"], base["nr_tlb_remote_flush"])
	}
	// PTL wait is not pinned: with the structured costs (IPI fan-out per
	// target, a cheaper fault entry) the proposal's extra flushes under the
	// PTL change this workload's wait by under 1 % either way (11.12 M vs
	// 11.15 M cycles at the defaults); the stale-entry-free extra flushes
	// are the objection's cost.
	if base["emu_stale_tlb_writes"] != 0 || yu["emu_stale_tlb_writes"] != 0 {
		t.Errorf("emu_stale_tlb_writes: baseline %d, proposal %d; want 0 (no hazard to fix)", base["emu_stale_tlb_writes"], yu["emu_stale_tlb_writes"])
	}
}

// TestSeedPerturbsTiming: with the guest's own randomness fixed (the
// workload's seed argument), Config.Seed alone changes the interleaving
// through the IPI-delivery and lock hand-off jitter; the same seed gives
// the same counters, and NoJitter gives the unperturbed timing.
func TestSeedPerturbsTiming(t *testing.T) {
	p := Params{Threads: 3, Pages: 256, Iterations: 4, Seed: 1}
	v := variant(t, "pte-fault-flush-pending")
	seed := func(s uint64, nojit bool) func(*kernelmodel.Config) {
		return func(c *kernelmodel.Config) { c.Seed, c.NoJitter = s, nojit }
	}
	a := runWith(t, "clear_refs", 4, p, v, seed(1, false))
	b := runWith(t, "clear_refs", 4, p, v, seed(1, false))
	c := runWith(t, "clear_refs", 4, p, v, seed(2, false))
	n1 := runWith(t, "clear_refs", 4, p, v, seed(1, true))
	n2 := runWith(t, "clear_refs", 4, p, v, seed(2, true))
	for k := range a {
		if a[k] != b[k] {
			t.Errorf("%s: %d and %d from the same seed", k, a[k], b[k])
		}
	}
	if a["cycles"] == c["cycles"] && a["emu_ptl_wait_cycles"] == c["emu_ptl_wait_cycles"] {
		t.Errorf("seeds 1 and 2 gave the same timing (cycles %d, PTL wait %d)", a["cycles"], a["emu_ptl_wait_cycles"])
	}
	if n1["cycles"] != n2["cycles"] {
		t.Errorf("NoJitter: seeds 1 and 2 differ (cycles %d, %d); want the seed to reach timing only through the jitter", n1["cycles"], n2["cycles"])
	}
}

// TestClearRefsPredump checks soft-dirty tracking as CRIU's pre-dump sees
// it (clear_refs_predump.c): on v5.10 clear_refs_write write-protects the
// PTEs without a TLB flush (fs/proc/task_mmu.c, v5.10), so writers whose
// working set sits in their dTLB keep storing through writable entries
// and pagemap shows written pages clean, at 2 CPUs for some seed of a
// small set; 5.10-stable (912efa17e512 flushes at the end of
// clear_refs_write) loses nothing for every seed tried. The guest's own
// count and the model's per-page count must agree on which side loses.
func TestClearRefsPredump(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	p := goldenRuns["clear_refs_predump"].p
	seeds := []uint64{1, 2, 3}
	run := func(v string, s uint64) map[string]uint64 {
		q := p
		q.Seed = s
		got := runWith(t, "clear_refs_predump", 2, q, variant(t, v), func(c *kernelmodel.Config) { c.Seed = s })
		if got["emu_guest_checked_pages"] == 0 {
			t.Fatalf("clear_refs_predump@%s seed %d: the guest checked no page (%d intervals x writers unchecked)", v, s, got["emu_guest_unchecked_sets"])
		}
		return got
	}
	var guestLost, modelLost uint64
	for _, s := range seeds {
		got := run("5.10", s)
		guestLost += got["emu_guest_lost_soft_dirty_pages"]
		modelLost += got["emu_lost_soft_dirty_pages"]
		// The model counts at the guest's pagemap read what the guest
		// counts, and at the next clear the pages stored to after the
		// read, so it never counts fewer.
		if got["emu_lost_soft_dirty_pages"] < got["emu_guest_lost_soft_dirty_pages"] {
			t.Errorf("5.10 seed %d: model counts %d lost pages, the guest %d; want model >= guest", s, got["emu_lost_soft_dirty_pages"], got["emu_guest_lost_soft_dirty_pages"])
		}
	}
	if guestLost == 0 || modelLost == 0 {
		t.Errorf("5.10 at 2 CPUs, seeds %v: guest lost %d pages, model %d; want the hole to show in both", seeds, guestLost, modelLost)
	}
	for _, s := range seeds {
		got := run("5.10-stable", s)
		for _, n := range []string{"emu_guest_lost_soft_dirty_pages", "emu_lost_soft_dirty_pages", "emu_lost_soft_dirty_pages_clearer", "emu_lost_soft_dirty"} {
			if got[n] != 0 {
				t.Errorf("5.10-stable seed %d: %s = %d, want 0", s, n, got[n])
			}
		}
	}
}
