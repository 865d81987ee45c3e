package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/tlb"
	"github.com/tlbemu/emu/workloads"
)

// TestLostSoftDirtyPagesScripted builds the (page, interval) accounting by
// hand on v5.10, where clear_refs flushes nothing: after a "4" write, stores
// through the CPU's stale writable entries leave no soft-dirty mark. Counted
// at the end of each interval (the next "4", exit_mmap): a page counts once
// however often it was stored to; a page only the clearing task stored to
// goes to the clearer counter, one any other task stored to to the main
// counter; a page that took a write fault later in the interval (do_wp_page
// sets soft-dirty) is not lost.
func TestLostSoftDirtyPagesScripted(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			clearer := attach(v, mm, 0)
			other := m.newTask(mm, clearer.tgid, "writer")
			other.home = v
			base := mmapAnon(t, v, 4)
			store := func(tk *Task, page int) {
				t.Helper()
				v.curr = tk // same mm: no switch_mm, the TLB is kept
				if !userAccess(v, base+uint64(page)*4096, true) {
					t.Fatalf("store to page %d failed", page)
				}
				v.curr = clearer
			}
			check := func(when string, pages, byClearer, stores uint64) {
				t.Helper()
				if m.lostSoftDirtyPages != pages || m.lostSoftDirtyClearer != byClearer || m.lostSoftDirty != stores {
					t.Errorf("%s: lost pages %d, clearer %d, stores %d; want %d, %d, %d", when,
						m.lostSoftDirtyPages, m.lostSoftDirtyClearer, m.lostSoftDirty, pages, byClearer, stores)
				}
			}
			for p := 0; p < 4; p++ {
				store(clearer, p) // write faults: writable, dirty TLB entries
			}
			// Stores before any clear_refs are no interval's.
			if r := v.clearRefsWrite([]byte("4")); r != 1 {
				t.Fatalf("write 4 = %d", r)
			}
			store(clearer, 0) // the clearer's own page
			store(other, 1)
			store(other, 1) // twice: one pair
			store(clearer, 2)
			store(other, 2) // both: the writer's
			store(other, 3)
			v.c.MMU.Invlpg(tlb.VirtAddr(base + 3*4096))
			store(other, 3) // write fault: soft-dirty again, not lost
			if e := pte(m, mm, base+3*4096); e&tlb.PteSoftDirty == 0 {
				t.Fatalf("page 3 after the write fault: PTE %#x not soft-dirty", e)
			}
			check("before the interval ends", 0, 0, 6)
			if r := v.clearRefsWrite([]byte("1")); r != 1 { // not a soft-dirty clear: no boundary
				t.Fatalf("write 1 = %d", r)
			}
			check("after clear_refs 1", 0, 0, 6)
			if r := v.clearRefsWrite([]byte("4")); r != 1 {
				t.Fatalf("write 4 = %d", r)
			}
			check("at the next clear_refs 4", 2, 1, 6)
			store(other, 0) // still stale after v5.10's clear: the last interval
			check("before exit", 2, 1, 7)
			v.exitMMap(mm)
			check("at exit_mmap", 3, 1, 7)
			detach(v)
		},
	})
}

// TestLostSoftDirtyPagesWorkload runs clear_refs at a small size over
// seeds: the kernels with a flush after clear_soft_dirty (5.10-stable,
// 912efa17e512) lose no page; v5.10 loses some writer pages over the seeds
// (not at every seed: seed 2 loses none at this size), at most one per written
// (page, interval) pair of the writers' mapping and never more pairs than
// lost stores; the clearing thread's own pages are counted apart and are
// not in the main counter.
func TestLostSoftDirtyPagesWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	p := workloads.Params{Threads: 1, Pages: 256, Iterations: 5}
	var total uint64 // 5.10's lost writer pages over the seeds
	for _, c := range []struct {
		kernel  string
		patches []Patch
		lost    bool
	}{
		{"5.10", nil, true},
		{"5.10-stable", nil, false},
		{"5.10", []Patch{PatchClearRefsFlush}, false},
	} {
		for seed := uint64(1); seed <= 3; seed++ {
			cfg := DefaultConfig()
			cfg.CPUs = 2
			cfg.MemBytes = 128 << 20
			cfg.Kernel = c.kernel
			cfg.Patches = c.patches
			p.Seed = seed
			_, s := runWorkload(t, "clear_refs", cfg, p)
			get := func(n string) uint64 {
				v, ok := s.Get(n)
				if !ok {
					t.Fatalf("no counter %s", n)
				}
				return v
			}
			pages, byClearer, stores := get("emu_lost_soft_dirty_pages"), get("emu_lost_soft_dirty_pages_clearer"), get("emu_lost_soft_dirty")
			name := c.kernel
			for _, pt := range c.patches {
				name += "+" + string(pt)
			}
			t.Logf("%s seed %d: lost pages %d, clearer %d, stores %d", name, seed, pages, byClearer, stores)
			if !c.lost {
				if pages != 0 || byClearer != 0 || stores != 0 {
					t.Errorf("%s seed %d: lost pages %d, clearer %d, stores %d; want 0", name, seed, pages, byClearer, stores)
				}
				continue
			}
			total += pages
			if max := uint64(p.Iterations * p.Pages); pages > max {
				t.Errorf("%s seed %d: %d lost pages > %d (page, interval) pairs of the mapping", name, seed, pages, max)
			}
			if pages+byClearer > stores {
				t.Errorf("%s seed %d: %d+%d lost pairs > %d lost stores", name, seed, pages, byClearer, stores)
			}
			// The clearer stores on its stack in every interval: one page
			// per interval, kept out of the main counter, which counts the
			// writers' pages — far fewer than the lost stores, which the
			// clearer's busy loop dominates.
			if byClearer != uint64(p.Iterations) {
				t.Errorf("%s seed %d: clearer lost %d pages, want %d (its stack page per interval)", name, seed, byClearer, p.Iterations)
			}
			if pages*100 > stores {
				t.Errorf("%s seed %d: %d lost pages for %d stores: the main counter looks per store", name, seed, pages, stores)
			}
		}
	}
	if total == 0 {
		t.Error("5.10: no writer page lost at seeds 1-3")
	}
}

// TestLostSoftDirtyPagesPagemapRead: where the guest reads
// /proc/self/pagemap (CRIU's pre-dump does, before its next clear_refs), the
// lost pages are counted at that read, as the reader sees them, and not
// again at the interval's end; a page stored to after the read is checked
// again at the end.
func TestLostSoftDirtyPagesPagemapRead(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			clearer := attach(v, mm, 0)
			other := m.newTask(mm, clearer.tgid, "writer")
			other.home = v
			base := mmapAnon(t, v, 3)
			buf := mmapAnon(t, v, 1)
			store := func(page int) {
				t.Helper()
				v.curr = other
				if !userAccess(v, base+uint64(page)*4096, true) {
					t.Fatalf("store to page %d failed", page)
				}
				v.curr = clearer
			}
			for p := 0; p < 3; p++ {
				store(p)
			}
			if r := v.clearRefsWrite([]byte("4")); r != 1 {
				t.Fatalf("write 4 = %d", r)
			}
			store(0) // stale: lost
			store(2) // stale, but outside the read below
			var f file
			if r := v.pagemapRead(&f, buf, 2*8, base>>12*8, false); r != 16 {
				t.Fatalf("pagemap read = %d", r)
			}
			if m.lostSoftDirtyPages != 1 {
				t.Errorf("after the pagemap read of pages 0-1: lost pages %d, want 1 (page 0)", m.lostSoftDirtyPages)
			}
			store(1) // after the read: checked at the interval's end
			if r := v.clearRefsWrite([]byte("4")); r != 1 {
				t.Fatalf("write 4 = %d", r)
			}
			if m.lostSoftDirtyPages != 3 {
				t.Errorf("at the next clear_refs: lost pages %d, want 3 (page 0 once, pages 1 and 2)", m.lostSoftDirtyPages)
			}
			detach(v)
		},
	})
}
