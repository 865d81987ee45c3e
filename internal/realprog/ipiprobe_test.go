package realprog

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// probeLine is one line of calib/host/ipi_probe.c's output.
var probeLine = regexp.MustCompile(`(?m)^(\w+) ops=(\d+) ns_per_op=(\d+) cal_per_op=([\d.]+) tlb_per_op=([\d.]+)$`)

// probeShape is what one shape costs per operation: /proc/interrupts' CAL
// and TLB rows, summed over the CPUs.
type probeShape struct{ cal, tlb float64 }

// runProbe runs the host probe under emu with flags and returns its shapes.
func runProbe(t *testing.T, flags []string, ops string) map[string]probeShape {
	t.Helper()
	res, _ := runEmu(t, append([]string{"-cpus", "2"}, flags...), binary(t, musl, "ipi_probe"), ops)
	if res.status != 0 {
		t.Fatalf("emu run %v ipi_probe: status %d\n%s%s", flags, res.status, clip(res.stdout), clip(res.stderr))
	}
	got := map[string]probeShape{}
	for _, m := range probeLine.FindAllSubmatch(res.stdout, -1) {
		cal, _ := strconv.ParseFloat(string(m[4]), 64)
		tlb, _ := strconv.ParseFloat(string(m[5]), 64)
		got[string(m[1])] = probeShape{cal, tlb}
	}
	return got
}

// TestIPIProbeShapes runs the host probe (calib/host/ipi_probe.c, the same
// program a user runs on a machine to measure it) under emu -kernel 5.10
// and checks the interrupts per operation of each shape against what
// v5.10's code sends and counts, function by function:
//
//   - flush_tlb_mm_range calls native_flush_tlb_others whenever another
//     CPU is in mm_cpumask; it uses on_each_cpu_cond_mask(tlb_is_not_lazy,
//     flush_tlb_func_remote, ...) (kernel/smp.c, v5.10), which IPIs the
//     non-lazy others (CAL +1 each) and then runs flush_tlb_func_remote on
//     the initiator too, so irq_tlb_count (the TLB row) counts the
//     initiator's own call: TLB = CAL + 1 when another CPU is in the mask.
//   - A sleeping peer's CPU is lazy (enter_lazy_tlb keeps the mm loaded and
//     the mm_cpumask bit set): no IPI, but the initiator's own call still
//     counts (CAL 0, TLB 1).
//   - clear_refs in v5.10 flushes nothing: clear_refs_write's
//     tlb_finish_mmu has no range gathered (the bug 912efa17e512 fixed).
//   - mprotect_ro's loop does two mprotects per operation (RW back, then
//     RO), each change_protection → flush_tlb_range: CAL 2, TLB 4.
//   - page_fault1 has no other thread: nothing.
//
// Under -kernel 5.10-stable, clear_refs gets its flush back (the
// flush_tlb_mm of 912efa17e512): flush_tlb_mm passes freed_tables = true
// (arch/x86/include/asm/tlbflush.h,
// v5.10), so native_flush_tlb_others uses smp_call_function_many, which
// skips the initiator: CAL 1, TLB 1.
//
// The probe's 40 uncounted operations cover the start-up transients (until
// the per-CPU LRU pagevecs hold 15 pages, v5.10's do_wp_page copies pages
// it later reuses, since a page in a pagevec has page_count 2), so the
// figures are exact but for noise.
func TestIPIProbeShapes(t *testing.T) {
	ops := "100"
	if testing.Short() {
		ops = "30"
	}
	want := map[string]probeShape{
		"clear_refs":     {0, 0},
		"madvise1_busy":  {1, 2},
		"madvise1_sleep": {0, 1},
		"madvise64_busy": {1, 2},
		"mprotect_ro":    {2, 4},
		"mprotect_rw":    {2, 4},
		"page_fault1":    {0, 0},
	}
	check := func(t *testing.T, got map[string]probeShape, want map[string]probeShape, tol float64) {
		t.Helper()
		for name, w := range want {
			g, ok := got[name]
			if !ok {
				t.Errorf("%s: no line in the probe's output", name)
				continue
			}
			if math.Abs(g.cal-w.cal) > tol || math.Abs(g.tlb-w.tlb) > tol {
				t.Errorf("%s: CAL %.2f TLB %.2f per op, want %.0f and %.0f", name, g.cal, g.tlb, w.cal, w.tlb)
			}
		}
	}
	t.Run("5.10", func(t *testing.T) { check(t, runProbe(t, nil, ops), want, 0.1) })
	t.Run("5.10-stable", func(t *testing.T) {
		got := runProbe(t, []string{"-kernel", "5.10-stable"}, ops)
		check(t, got, map[string]probeShape{"clear_refs": {1, 1}, "madvise1_busy": want["madvise1_busy"]}, 0.1)
	})
	// -kernel 6.18 -virt nested against the figures issue 17 recorded on a
	// KVM guest running 6.18 (IPIs per operation; this project's machine
	// flushes by hypercall and shows none, see the probe's comment). Since
	// 4c1ba3923e6c flush_tlb_func counts irq_tlb_count only off the
	// initiator, so the TLB row is the IPIs handled: CAL = TLB. The
	// sleeping peer's CPU is lazy (should_flush_tlb: no IPI), the RO/RW
	// pair flushes twice (pte_flags_need_flush: _PAGE_RW is in
	// flush_on_change, both ways), clear_refs once (912efa17e512).
	t.Run("6.18", func(t *testing.T) {
		got := runProbe(t, []string{"-kernel", "6.18", "-virt", "nested"}, ops)
		check(t, got, map[string]probeShape{
			"clear_refs":     {1, 1},
			"madvise1_busy":  {1, 1},
			"madvise1_sleep": {0, 0},
			"madvise64_busy": {1, 1},
			"mprotect_ro":    {2, 2},
			"mprotect_rw":    {2, 2},
			"page_fault1":    {0, 0},
		}, 0.1)
	})
}
