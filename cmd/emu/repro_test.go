package main

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tlbemu/emu/kernelmodel"
)

// The published results README's "Published results reproduced" table
// lists, each checked over the table emu ab prints. Every emu figure is
// computed here from the printed means; the only numbers typed in are the
// published ones.

// abMeans returns side A's and side B's printed means of counter name in an
// emu ab table, with or without -r (a row is "A [± s%] change B [± s%] name
// [verdict]").
func abMeans(t *testing.T, table, name string) (a, b float64) {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		i := 0
		for i < len(f) && f[i] != name {
			i++
		}
		if i == len(f) || i < 3 {
			continue
		}
		tok := f[:i]
		j := 1
		if tok[j] == "±" {
			j += 2
		}
		if j+1 >= len(tok) || !strings.HasSuffix(tok[j], "%") {
			continue
		}
		var err1, err2 error
		a, err1 = strconv.ParseFloat(tok[0], 64)
		b, err2 = strconv.ParseFloat(tok[j+1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("row %q: %v %v", line, err1, err2)
		}
		return a, b
	}
	t.Fatalf("no row %s in\n%s", name, table)
	return 0, 0
}

// abTable runs emu ab with args and returns its table.
func abTable(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := emu(t, append([]string{"ab", "-q"}, args...)...)
	if code != 0 {
		t.Fatalf("emu ab %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// without618 is the -base-patch list that makes -kernel 5.10-stable into
// -kernel 6.18 without the patches drop (README's commands spell out
// today's list for the LKP robot's kernel of November 2024, which had the
// per-VMA fault lock of v6.4 but not madvise's of v6.17:
// concurrent-flush,anon-exclusive,mprotect-writable,per-vma-lock).
func without618(t *testing.T, drop ...kernelmodel.Patch) string {
	t.Helper()
	var rest []string
	for _, p := range kernelmodel.Kernels["6.18"] {
		if !slices.Contains(kernelmodel.Kernels["5.10-stable"], p) && !slices.Contains(drop, p) {
			rest = append(rest, string(p))
		}
	}
	if got := strings.Join(rest, ","); got != "concurrent-flush,anon-exclusive,mprotect-writable,per-vma-lock" {
		t.Errorf("6.18 without %v is 5.10-stable + %s: update README's 'Published results reproduced' commands", drop, got)
	}
	return strings.Join(rest, ",")
}

// lkpPublished is the LKP robot's will-it-scale.per_thread_ops change for
// 209954cbc7d0 against 7e33001b8b (Msg-Id 202411282207.6bd28eae-lkp@intel.com).
const lkpPublished = -13.2

// lkpBase is the -base-patch list of the robot's kernel: 6.18 without the
// two patches under test and without madvise's per-VMA lock (v6.17).
func lkpBase(t *testing.T) string {
	t.Helper()
	return without618(t, kernelmodel.PatchLazyCPUMask, kernelmodel.PatchCPUMaskTrim, kernelmodel.PatchMadviseVMALock)
}

// lkpABC runs the A/B (lazy-cpumask on the robot's kernel) and B/C
// (cpumask-trim on top) tables with the flags args.
func lkpABC(t *testing.T, args ...string) (ab, bc string) {
	t.Helper()
	rest := lkpBase(t)
	ab = abTable(t, append(slices.Clone(args), "-base-patch", rest, "-patch", "lazy-cpumask")...)
	bc = abTable(t, append(slices.Clone(args), "-base-patch", rest+",lazy-cpumask", "-patch", "cpumask-trim")...)
	return ab, bc
}

// abcMeans returns a counter's means on sides A and B of ab and on side B
// of bc (C).
func abcMeans(t *testing.T, ab, bc, name string) (a, b, c float64) {
	t.Helper()
	a, b = abMeans(t, ab, name)
	_, c = abMeans(t, bc, name)
	return a, b, c
}

// pct is B's change over A in percent.
func pct(a, b float64) float64 { return 100 * (b - a) / a }

// TestReproLazyCPUMask: the LKP robot's -13.2 % will-it-scale.per_thread_ops
// on tlb_flush2 (thread mode, lkp-skl-fpga01: 104 CPUs, 104 threads) for
// 209954cbc7d0 "x86/mm/tlb: Update mm_cpumask lazily" (Msg-Id
// 202411282207.6bd28eae-lkp@intel.com), and 6db2526c1d69 "x86/mm/tlb: Only
// trim the mm_cpumask once a second", whose commit message names that
// regression ("Sending TLB flush IPIs to CPUs that are in the mm_cpumask,
// but no longer running the program"). A is -kernel 6.18 without either
// (-kernel 6.18 is 5.10-stable plus a list of patches, kernelmodel/config.go
// Kernels, so 6.18 without some is 5.10-stable with the others as
// -base-patch), B adds lazy-cpumask, C adds cpumask-trim (C is -kernel
// 6.18), on tlb_flush2_away (the run's shape: CPUs leave the mm).
//
// On tlb_flush2_away emu reproduces the mechanism: B sends the IPIs to
// CPUs that left (more IPIs, TLB_REMOTE_WRONG_CPU clears their bits), C
// skips them (fewer IPIs again). The per_thread_ops magnitude is not
// reproduced there, and the test records that: emu's CPUs that leave the
// mm run another process and take the IPI at once, so a stale IPI costs
// the flusher little more than the send. TestReproLazyCPUMaskC6 is the
// run's own condition (sleeping mmap_lock readers, idle CPUs in C6).
func TestReproLazyCPUMask(t *testing.T) {
	const published = lkpPublished
	ab, bc := lkpABC(t, "-workload", "tlb_flush2_away", "-cpus", "8", "-kernel", "5.10-stable")
	ipiA, ipiB, ipiC := abcMeans(t, ab, bc, "emu_ipis_sent")
	_, wrongB := abMeans(t, ab, "tlb:tlb_flush.TLB_REMOTE_WRONG_CPU")
	opsA, opsB, opsC := abcMeans(t, ab, bc, "per_thread_ops")
	t.Logf("IPIs A %.0f, B %.0f (%+.1f%%), C %.0f (%+.1f%% vs B); per_thread_ops B vs A %+.1f%% (published %+.1f%%), C vs B %+.1f%%",
		ipiA, ipiB, pct(ipiA, ipiB), ipiC, pct(ipiB, ipiC), pct(opsA, opsB), published, pct(opsB, opsC))
	if !(ipiB > ipiA*1.1) || wrongB == 0 {
		t.Errorf("lazy-cpumask: IPIs %.0f -> %.0f with %.0f stale bits cleared, want more IPIs (to the CPUs that left)", ipiA, ipiB, wrongB)
	}
	if !(ipiC < ipiB) {
		t.Errorf("cpumask-trim: IPIs %.0f -> %.0f, want fewer (should_flush_tlb skips the CPUs that left)", ipiB, ipiC)
	}
	if d := pct(opsA, opsB); math.Abs(d) >= 0.7*math.Abs(published) {
		t.Errorf("per_thread_ops B vs A %+.1f%% is now within the published %+.1f%% ±30%%: update README's table and this test", d, published)
	}
}

// TestReproLazyCPUMaskC6: the same A/B/C on plain tlb_flush2 with the
// condition of the LKP run (44.6 % idle, 695,438 context switches per
// second against 756,738 ops: threads asleep on mmap_lock) in the model:
// -mmap-lock sleep (readers schedule() until granted) and -idle c6 (the
// menu governor, its typical interval of the last 8 idle periods included,
// picks Skylake-SP's C6 when it predicts at least C6's target residency;
// C6's CPUIDLE_FLAG_TLB_FLUSHED makes cpuidle_enter_state call leave_mm,
// and the CPU is woken 133 µs after an IPI or a wake-up:
// kernelmodel/idle.go). With 209954cbc7d0 a CPU asleep in C6 stays in
// mm_cpumask, not lazy, so the flush IPIs it and the flusher waits out
// the exit latency. The kernel is the robot's: 6.18 without the two
// patches and without madvise's per-VMA lock (v6.17), so faults run under
// the VMA lock (v6.4) and madvise under mmap_lock. On the robot's 104
// CPUs, -r 3, per_thread_ops B vs A must be within the published -13.2 %
// ±30 %, with more IPIs (-11.8 %, seed 11 -11.7 %; README's table: within
// the band at 32-104 CPUs, larger at 8-24). The run's mmap_lock is v6.x's
// rwsem: readers sleep, and a writer spins on a reader-owned lock only
// until rwsem_rspin_threshold, then sleeps (kernelmodel/locks.go). C
// (cpumask-trim: should_flush_tlb skips a CPU with init_mm loaded, except
// for munmap's page-table flushes) must still lose against A, as the robot
// found for the final v4. Its IPI counts are logged, not checked: here
// they depend on how many CPUs sleep in C6, which the patch itself
// changes, and both the total and TLB_REMOTE_WRONG_CPU have moved either
// way with the model (TestReproLazyCPUMask checks the skip on
// tlb_flush2_away, where the CPUs that left run another process). The
// robot's v4 figure, C against A: still -14.9 % (Msg-Id
// Z1JTxQzs4iBN6i5A@xsang-OptiPlex-9020). README's table records the other
// -cpus and seeds: the loss is beyond the band at 8 CPUs (checked).
func TestReproLazyCPUMaskC6(t *testing.T) {
	if testing.Short() {
		t.Skip("two 104-CPU and one 8-CPU tlb_flush2 A/B runs (about a minute)")
	}
	const published = lkpPublished
	const publishedV4 = -14.9
	cond := []string{"-workload", "tlb_flush2", "-idle", "c6", "-mmap-lock", "sleep", "-kernel", "5.10-stable"}
	ab, bc := lkpABC(t, append([]string{"-cpus", "104", "-r", "3"}, cond...)...)
	ipiA, ipiB, ipiC := abcMeans(t, ab, bc, "emu_ipis_sent")
	c6A, c6B := abMeans(t, ab, "emu_c6_entries")
	opsA, opsB, opsC := abcMeans(t, ab, bc, "per_thread_ops")
	rest := lkpBase(t)
	d := pct(opsA, opsB)
	t.Logf("104 CPUs: IPIs A %.0f, B %.0f (%+.1f%%), C %.0f (%+.1f%% vs B); C6 entries %.0f, %.0f; per_thread_ops B vs A %+.1f%% (published %+.1f%%), C vs B %+.1f%%, C vs A %+.1f%% (published v4 %+.1f%%)",
		ipiA, ipiB, pct(ipiA, ipiB), ipiC, pct(ipiB, ipiC), c6A, c6B, d, published, pct(opsB, opsC), pct(opsA, opsC), publishedV4)
	if c6A == 0 || c6B == 0 {
		t.Fatalf("no C6 entries (A %.0f, B %.0f): the condition is not modelled", c6A, c6B)
	}
	wrongB, wrongC := abMeans(t, bc, "tlb:tlb_flush.TLB_REMOTE_WRONG_CPU")
	t.Logf("flush IPIs to CPUs not running the mm: B %.0f, C %.0f (%+.1f%%)", wrongB, wrongC, pct(wrongB, wrongC))
	if !(ipiB > ipiA) {
		t.Errorf("IPIs A %.0f, B %.0f: want more with lazy-cpumask (to the CPUs in C6)", ipiA, ipiB)
	}
	if inBand := d < 0 && math.Abs(d-published) <= 0.3*math.Abs(published); !inBand {
		t.Errorf("per_thread_ops B vs A %+.1f%%, want within the published %+.1f%% ±30%%", d, published)
	}
	if !(opsC < opsA) {
		t.Errorf("per_thread_ops C %.0f >= A %.0f: with cpumask-trim the loss against neither patch is gone in emu (the robot: still %+.1f%%); update README", opsC, opsA, publishedV4)
	}
	// README's table: at 8 CPUs the loss is beyond the band.
	small := abTable(t, append([]string{"-cpus", "8", "-r", "3"}, append(cond, "-base-patch", rest, "-patch", "lazy-cpumask")...)...)
	a8, b8 := abMeans(t, small, "per_thread_ops")
	d8 := pct(a8, b8)
	t.Logf("per_thread_ops B vs A at 8 CPUs %+.1f%%", d8)
	if !(d8 < published*1.3) {
		t.Errorf("per_thread_ops B vs A %+.1f%% at 8 CPUs: want a loss beyond the published %+.1f%% ±30%% (README's table)", d8, published)
	}
}

// TestReproConcurrentFlush: Nadav Amit's 2-thread figure for 4ce94eabac16
// "x86/mm/tlb: Flush remote and local TLBs concurrently": madvise + touch of
// one page with one remote target, 1436 ns serial, 1225 ns concurrent
// (Haswell; "[RFC PATCH 0/6] x86/mm: Flush remote and local TLBs
// concurrently", Msg-Id 20190525082203.6531-1-namit@vmware.com; emu
// calibrate's S2 and S2c). On madvise_ipi, the benchmark as an ops workload,
// the saving in ns per round (1e9 / per_thread_ops) must be within ±30% of
// the published 211 ns.
func TestReproConcurrentFlush(t *testing.T) {
	const serial, concurrent = 1436.0, 1225.0 // ns per round, published
	tab := abTable(t, "-workload", "madvise_ipi", "-cpus", "2", "-threads", "2", "-kernel", "5.10", "-cpu-model", "haswell", "-patch", "concurrent-flush", "-r", "3")
	a, b := abMeans(t, tab, "per_thread_ops")
	nsA, nsB := 1e9/a, 1e9/b
	save, want := nsA-nsB, serial-concurrent
	t.Logf("ns per round: %.0f -> %.0f (saving %.0f ns, %+.1f%%); published %.0f -> %.0f (saving %.0f ns, %+.1f%%)",
		nsA, nsB, save, pct(nsA, nsB), serial, concurrent, want, pct(serial, concurrent))
	if save < 0.7*want || save > 1.3*want {
		t.Errorf("concurrent-flush saves %.0f ns per round, want %.0f ns ±30%%", save, want)
	}
}

// TestReproINVLPGB: Rik van Riel's INVLPGB result on will-it-scale
// tlb_flush2_threads (AMD Milan, 36 cores; "AMD broadcast TLB invalidation"
// cover letter v2, spinics linux-mm msg417207): TLB invalidation from 40 %
// of CPU time to about 4 %, and throughput unchanged by INVLPGB alone
// (527k loops/s either way: the time moved to lru_lock contention); with
// his "mm: remove unnecessary calls to lru_add_drain" 731k, with both
// 1157k. emu runs his machine's size: 36 threads on 36 zen3 CPUs, eight
// per CCX (kernel.ccx_cores), so most LRU-lock hand-offs cross a CCX
// (kernel.line_handoff_cross_ccx, Milan's 107 ns). The share is
// emu_tlb_invalidation_cycles over cycles; INVLPGB's is taken in the
// steady state, the increment from a 12- to a 24-round run (the process
// gets its global ASID from consider_global_asid a few ticks in). emu
// gives the sign of the share (it must at least halve) and the move to the
// lock: with INVLPGB the LRU lock's wait rises and takes up at least a
// quarter of the invalidation time saved. It gives the unchanged
// throughput (per_thread_ops within ±15 %) because the LRU lock limits
// both sides: every hold moves the lock's line, the list heads' line,
// lru_zone_size and the neighbouring struct pages from the CPU that wrote
// them last (kernelmodel/lru.go), three transfers when the taker was
// spinning, and with IPIs the flusher waits for targets spinning on the
// lock with interrupts off (+5.1 %; +10.7 % with
// kernel.contended_handoff_lines 1, an ASSUMPTION: README). The
// lru-drain-removal patch (with v6.18's folio-batch) takes most holds off
// the op and raises per_thread_ops on the IPI side, as it did on Milan, and
// more with INVLPGB; its magnitudes are not reproduced (README).
func TestReproINVLPGB(t *testing.T) {
	if testing.Short() {
		t.Skip("three 36-CPU tlb_flush2 A/B runs long enough for a global ASID")
	}
	run := func(rounds string, extra ...string) string {
		return abTable(t, append([]string{"-workload", "tlb_flush2", "-cpus", "36", "-threads", "36", "-iterations", rounds, "-kernel", "6.18", "-cpu-model", "zen3", "-flush", "invlpgb"}, extra...)...)
	}
	short, long := run("12"), run("24")
	ia, ib := abMeans(t, long, "emu_tlb_invalidation_cycles")
	ca, cb := abMeans(t, long, "cycles")
	_, ib12 := abMeans(t, short, "emu_tlb_invalidation_cycles")
	_, cb12 := abMeans(t, short, "cycles")
	oa, ob := abMeans(t, long, "per_thread_ops")
	wa, wb := abMeans(t, long, "emu_lru_lock_wait_cycles")
	sa, sb := ia/ca, (ib-ib12)/(cb-cb12)
	moved := (wb - wa) / (ia - ib)
	t.Logf("TLB invalidation share of CPU time: IPIs %.1f%%, INVLPGB %.1f%% in the steady state (%.1f%% over the 24-round run); per_thread_ops %.0f -> %.0f (%+.1f%%); published 40%% -> ~4%%, 527k -> 527k loops/s",
		100*sa, 100*sb, 100*ib/cb, oa, ob, pct(oa, ob))
	t.Logf("lru_lock wait %.3g -> %.3g cycles (%.1f%% -> %.1f%% of CPU time): %.0f%% of the %.3g invalidation cycles saved",
		wa, wb, 100*wa/ca, 100*wb/cb, 100*moved, ia-ib)
	if sb > sa/2 {
		t.Errorf("INVLPGB: %.1f%% of CPU time in the steady state, want at most half the IPI side's %.1f%%", 100*sb, 100*sa)
	}
	if moved < 0.25 {
		t.Errorf("the LRU lock's wait took up %.0f%% of the invalidation time INVLPGB saved, want at least 25%% (the time moves to the lock)", 100*moved)
	}
	if d := pct(oa, ob); math.Abs(d) > 15 {
		t.Errorf("per_thread_ops %+.1f%% with INVLPGB alone, want within ±15%% of the published 0%%", d)
	}
	drain := run("24", "-patch", "lru-drain-removal,folio-batch")
	da, db := abMeans(t, drain, "per_thread_ops")
	t.Logf("with lru-drain-removal,folio-batch: IPIs %.0f (%+.1f%% vs IPIs without; published 527k -> 731k, +38.7%%), INVLPGB %.0f (%+.1f%%; published 1157k, +119.5%%)",
		da, pct(oa, da), db, pct(oa, db))
	if !(da > oa && db > ob) {
		t.Errorf("lru-drain-removal: per_thread_ops IPIs %.0f -> %.0f, INVLPGB %.0f -> %.0f, want both higher (fewer LRU-lock rounds per op)", oa, da, ob, db)
	}
	// With the contention removed INVLPGB gains more than IPIs do (Milan:
	// 1157k against 731k): the IPI side still pays the invalidation.
	if db/ob <= da/oa {
		t.Errorf("lru-drain-removal: INVLPGB gains x%.2f, IPIs x%.2f; want INVLPGB's gain larger (published x%.2f against x%.2f)", db/ob, da/oa, 1157.0/527, 731.0/527)
	}
}
