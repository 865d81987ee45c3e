package kernelmodel

import (
	"slices"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
	"github.com/tlbemu/emu/workloads"
)

func newTHPMachine(t *testing.T, cpus int) (*Machine, *MM) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.CPUs = cpus
	cfg.MemBytes = 64 << 20
	cfg.THP = true
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := m.newMM()
	if err != nil {
		t.Fatal(err)
	}
	return m, mm
}

// pmdOf returns the PMD entry mapping addr (0 if an upper level is missing).
func pmdOf(m *Machine, mm *MM, addr uint64) uint64 {
	slot, ok := m.pmdSlot(mm, addr)
	if !ok {
		return 0
	}
	return m.mem.LoadPTE(slot)
}

// TestTHPFaultClearRefsMunmap: one write fault maps a 2 MiB-aligned range
// with one huge PMD (512 pages written, one fault); clear_refs "4"
// write-protects it with exactly one full flush (pmdp_invalidate); the next
// write reuses the exclusively mapped page (do_huge_pmd_wp_page, no split);
// munmap frees all 512 frames.
func TestTHPFaultClearRefsMunmap(t *testing.T) {
	m, mm := newTHPMachine(t, 2)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			a := mmapAnon(t, v, 1024) // 4 MiB: holds an aligned 2 MiB range
			h := (a + hpageSize - 1) &^ (hpageSize - 1)
			faults := m.pgfault
			for i := uint64(0); i < 512; i++ {
				if !userAccess(v, h+i*4096, true) {
					t.Fatal("write failed")
				}
			}
			if d := m.pgfault - faults; d != 1 {
				t.Errorf("%d faults for 512 page writes, want 1", d)
			}
			if m.thpFaultAlloc != 1 {
				t.Errorf("thp_fault_alloc = %d, want 1", m.thpFaultAlloc)
			}
			e := pmdOf(m, mm, h)
			want := tlb.PtePS | tlb.PteP | tlb.PteRW | tlb.PteUS | tlb.PteA | tlb.PteD | tlb.PteSoftDirty
			if e&want != want {
				t.Fatalf("PMD %#x lacks %#x", e, want)
			}
			afterFault := m.mem.InUse()

			gen, all := mm.tlbGen, m.nrTLBLocalFlushAll
			if r := v.clearRefsWrite([]byte("4")); r != 1 {
				t.Fatalf("clear_refs = %d", r)
			}
			if d := mm.tlbGen - gen; d != 1 {
				t.Errorf("clear_refs issued %d flushes, want 1 (pmdp_invalidate)", d)
			}
			if d := m.nrTLBLocalFlushAll - all; d != 1 {
				t.Errorf("local full flushes %d, want 1 (512 pages > ceiling 33)", d)
			}
			e = pmdOf(m, mm, h)
			if e&tlb.PteP == 0 || e&tlb.PtePS == 0 || e&(tlb.PteRW|tlb.PteSoftDirty) != 0 || e&tlb.PteD == 0 {
				t.Fatalf("after clear_refs PMD %#x, want present huge, write-protected, soft-dirty clear, D kept", e)
			}

			faults, reuse := m.pgfault, m.wpReuse
			userAccess(v, h+5*4096, true)
			if m.pgfault-faults != 1 || m.wpReuse-reuse != 1 || m.thpSplitPMD != 0 {
				t.Errorf("write after clear_refs: faults %d reuse %d splits %d, want 1 1 0", m.pgfault-faults, m.wpReuse-reuse, m.thpSplitPMD)
			}
			if e = pmdOf(m, mm, h); e&(tlb.PteRW|tlb.PteSoftDirty|tlb.PtePS) != tlb.PteRW|tlb.PteSoftDirty|tlb.PtePS {
				t.Errorf("after reuse PMD %#x, want writable soft-dirty huge", e)
			}

			if r := v.sysMunmap(a, 1024*4096); r != 0 {
				t.Fatalf("munmap = %d", r)
			}
			v.lruAddDrain()
			if got := m.mem.InUse(); got != afterFault-512 {
				t.Errorf("InUse after munmap %d, want %d (512 frames freed)", got, afterFault-512)
			}
			if e = pmdOf(m, mm, h); e != 0 {
				t.Errorf("PMD %#x after munmap", e)
			}
			detach(v)
		},
	})
}

// TestTHPPartialMunmapSplits: munmap of part of a huge PMD splits it
// (thp_split_pmd, a flush of the 2 MiB) and the rest stays mapped by PTEs
// with the huge PMD's bits.
func TestTHPPartialMunmapSplits(t *testing.T) {
	m, mm := newTHPMachine(t, 1)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			a := mmapAnon(t, v, 1024)
			h := (a + hpageSize - 1) &^ (hpageSize - 1)
			userAccess(v, h, true)
			putWords(t, v, h+8*4096, 0xfeed)
			before := m.mem.InUse()
			if r := v.sysMunmap(h+4096, 4*4096); r != 0 {
				t.Fatalf("munmap = %d", r)
			}
			if m.thpSplitPMD != 1 {
				t.Errorf("thp_split_pmd = %d, want 1", m.thpSplitPMD)
			}
			v.lruAddDrain()
			// +1 PTE table, -4 frames
			if got := m.mem.InUse(); got != before+1-4 {
				t.Errorf("InUse %d, want %d", got, before+1-4)
			}
			if e := pte(m, mm, h); e&(tlb.PteP|tlb.PteRW|tlb.PteD) != tlb.PteP|tlb.PteRW|tlb.PteD || e&tlb.PtePS != 0 {
				t.Errorf("PTE of h after split %#x", e)
			}
			if e := pte(m, mm, h+4096); e != 0 {
				t.Errorf("unmapped PTE %#x", e)
			}
			if got := getWord(t, v, h+8*4096); got != 0xfeed {
				t.Errorf("data after split %#x", got)
			}
			faults := m.pgfault
			userAccess(v, h+100*4096, true)
			if m.pgfault != faults {
				t.Errorf("write to a split subpage faulted")
			}
			detach(v)
		},
	})
}

// TestTHPClearRefsWorkload runs the clear_refs workload with THP on: its
// 16 MiB mapping is huge-mapped, and because clear_soft_dirty_pmd flushes
// (pmdp_invalidate, fs/proc/task_mmu.c clear_soft_dirty_pmd, v5.10), no write is lost through a stale
// entry on v5.10, unlike with 4 KiB pages.
func TestTHPClearRefsWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	cfg := DefaultConfig()
	cfg.CPUs = 3
	cfg.MemBytes = 128 << 20
	cfg.THP = true
	p := workloads.Params{Threads: 2, Pages: 4096, Iterations: 4, Seed: 1}
	m, s := runWorkload(t, "clear_refs", cfg, p)
	c := map[string]uint64{}
	for _, x := range s.Counters {
		c[x.Name] = x.Value
	}
	if c["thp_fault_alloc"] == 0 {
		t.Errorf("thp_fault_alloc = 0")
	}
	if c["emu_lost_soft_dirty"] != 0 {
		t.Errorf("emu_lost_soft_dirty = %d with THP, want 0", c["emu_lost_soft_dirty"])
	}
	t.Logf("thp_fault_alloc %d thp_split_pmd %d lost_soft_dirty %d flush_all %d", c["thp_fault_alloc"], c["thp_split_pmd"], m.lostSoftDirty, c["nr_tlb_local_flush_all"])
}

// TestTHPWPSplitWhenShared: a write to a write-protected huge PMD whose page
// has another reference (a GUP pin, here) cannot reuse it: v5.10's
// do_huge_pmd_wp_page splits the PMD (pmdp_invalidate flushes) and falls
// back to the PTE path, which copies the written subpage.
func TestTHPWPSplitWhenShared(t *testing.T) {
	m, mm := newTHPMachine(t, 1)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			a := mmapAnon(t, v, 1024)
			h := (a + hpageSize - 1) &^ (hpageSize - 1)
			userAccess(v, h, true)
			head := ptePFN(pmdOf(m, mm, h))
			m.getPage(head) // an extra reference
			v.clearRefsWrite([]byte("4"))
			gen, cp := mm.tlbGen, m.wpCopy
			userAccess(v, h+3*4096, true)
			if m.thpSplitPMD != 1 || m.wpCopy-cp != 1 {
				t.Errorf("splits %d copies %d, want 1 1", m.thpSplitPMD, m.wpCopy-cp)
			}
			if mm.tlbGen-gen < 2 {
				t.Errorf("flushes %d, want the split's pmdp_invalidate and the copy's ptep_clear_flush", mm.tlbGen-gen)
			}
			if e := pte(m, mm, h+3*4096); ptePFN(e) == head+3 || !pteWrite(e) {
				t.Errorf("written subpage PTE %#x, want a writable copy", e)
			}
			if e := pte(m, mm, h); ptePFN(e) != head || pteWrite(e) {
				t.Errorf("other subpage PTE %#x, want the original, read-only", e)
			}
			detach(v)
		},
	})
}

// forkTHPChild forks the current task and takes the child off its run
// queue so that the script drives it.
func forkTHPChild(v *VCPU) *Task {
	m := v.m
	v.sysFork()
	c := m.tasks[len(m.tasks)-1]
	c.home.runq = slices.DeleteFunc(c.home.runq, func(x *Task) bool { return x == c })
	return c
}

// TestTHPForkCopiesHugePMD: fork copies a huge PMD whole (copy_huge_pmd):
// one huge PMD in each mm, the parent's write-protected, the child's
// write-protected and old, refcount and mapcount 2 on the head, no split
// and exactly dup_mmap's one flush_tlb_mm. A write by the child then splits
// its PMD and copies the written subpage (v5.10 do_huge_pmd_wp_page); the
// parent's data is unchanged. The child's exit drops its mappings without
// freeing the parent's frames; the parent's munmap frees them.
func TestTHPForkCopiesHugePMD(t *testing.T) {
	m, mm := newTHPMachine(t, 1)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			p := attach(v, mm, 0)
			a := mmapAnon(t, v, 1024)
			h := (a + hpageSize - 1) &^ (hpageSize - 1)
			userAccess(v, h, true)
			putWords(t, v, h+3*4096, 0xabcd)
			v.lruAddDrain()
			head := ptePFN(pmdOf(m, mm, h))
			gen, full := mm.tlbGen, m.nrTLBLocalFlushAll
			c := forkTHPChild(v)
			if m.thpSplitPMD != 0 {
				t.Errorf("thp_split_pmd = %d after fork, want 0", m.thpSplitPMD)
			}
			if d := mm.tlbGen - gen; d != 1 {
				t.Errorf("fork issued %d flushes, want 1 (flush_tlb_mm)", d)
			}
			if d := m.nrTLBLocalFlushAll - full; d != 1 {
				t.Errorf("local full flushes %d, want 1", d)
			}
			pe, ce := pmdOf(m, mm, h), pmdOf(m, c.mm, h)
			if pe&(tlb.PteP|tlb.PtePS) != tlb.PteP|tlb.PtePS || pteWrite(pe) || ptePFN(pe) != head {
				t.Errorf("parent PMD %#x, want present huge read-only of head %#x", pe, head)
			}
			if ce&(tlb.PteP|tlb.PtePS) != tlb.PteP|tlb.PtePS || pteWrite(ce) || ce&tlb.PteA != 0 || ptePFN(ce) != head {
				t.Errorf("child PMD %#x, want present huge read-only old of head %#x", ce, head)
			}
			if pg := m.pages[head]; pg.refcount != 2 || pg.mapcount != 2 || !pg.thp {
				t.Errorf("head refcount %d mapcount %d thp %v, want 2 2 true", pg.refcount, pg.mapcount, pg.thp)
			}

			// The child writes: split + copy of the written subpage.
			detach(v)
			v.curr = c
			c.state = taskRunning
			v.switchMMIrqsOff(c.mm)
			cp := m.wpCopy
			putWords(t, v, h+3*4096, 0x1111)
			if m.thpSplitPMD != 1 || m.wpCopy-cp != 1 {
				t.Errorf("child write: splits %d copies %d, want 1 1", m.thpSplitPMD, m.wpCopy-cp)
			}
			if e := pte(m, c.mm, h+3*4096); ptePFN(e) == head+3 || !pteWrite(e) {
				t.Errorf("child's written PTE %#x, want a writable copy", e)
			}
			if got := getWord(t, v, h+3*4096); got != 0x1111 {
				t.Errorf("child reads %#x", got)
			}
			if pg := m.pages[head+3]; pg.refcount != 1 || pg.mapcount != 1 {
				t.Errorf("subpage 3 refcount %d mapcount %d after the child's copy, want 1 1", pg.refcount, pg.mapcount)
			}
			beforeExit := m.mem.InUse()
			v.exitMMap(c.mm)
			v.lruAddDrain()
			detach(v)

			// The parent: data unchanged, still huge; its frames survived
			// the child's exit (only the child's copy was freed, and the
			// PTE table of the child's split PMD, by exit_mmap's
			// free_pgtables).
			v.curr = p
			p.state = taskRunning
			v.switchMMIrqsOff(mm)
			if got := m.mem.InUse(); got != beforeExit-2 {
				t.Errorf("InUse after child exit %d, want %d (the child's copy and its PTE table freed)", got, beforeExit-2)
			}
			if got := getWord(t, v, h+3*4096); got != 0xabcd {
				t.Errorf("parent reads %#x, want 0xabcd", got)
			}
			if e := pmdOf(m, mm, h); e&tlb.PtePS == 0 {
				t.Errorf("parent PMD %#x no longer huge", e)
			}
			before := m.mem.InUse()
			if r := v.sysMunmap(a, 1024*4096); r != 0 {
				t.Fatalf("munmap = %d", r)
			}
			v.lruAddDrain()
			if got := m.mem.InUse(); got != before-512 {
				t.Errorf("InUse after parent munmap %d, want %d (512 frames freed)", got, before-512)
			}
			detach(v)
		},
	})
}

// TestTHPForkChildExitThenParentReuses: the child's exit (zap_huge_pmd)
// drops its reference without freeing; the parent's next write reuses the
// now exclusive huge page in place.
func TestTHPForkChildExitThenParentReuses(t *testing.T) {
	m, mm := newTHPMachine(t, 1)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			a := mmapAnon(t, v, 1024)
			h := (a + hpageSize - 1) &^ (hpageSize - 1)
			putWords(t, v, h, 0x77)
			v.lruAddDrain()
			head := ptePFN(pmdOf(m, mm, h))
			c := forkTHPChild(v)
			before := m.mem.InUse()
			v.exitMMap(c.mm)
			v.lruAddDrain()
			if got := m.mem.InUse(); got != before {
				t.Errorf("InUse after child exit %d, want %d (huge page still mapped)", got, before)
			}
			if pg := m.pages[head]; pg.refcount != 1 || pg.mapcount != 1 || !pg.thp {
				t.Errorf("head refcount %d mapcount %d thp %v, want 1 1 true", pg.refcount, pg.mapcount, pg.thp)
			}
			reuse := m.wpReuse
			putWords(t, v, h+8, 0x88)
			if m.wpReuse-reuse != 1 || m.thpSplitPMD != 0 {
				t.Errorf("parent write: reuse %d splits %d, want 1 0", m.wpReuse-reuse, m.thpSplitPMD)
			}
			if got := getWord(t, v, h); got != 0x77 {
				t.Errorf("parent reads %#x", got)
			}
			detach(v)
		},
	})
}

// TestTHPMprotectWhole: mprotect(PROT_READ) of a whole huge page keeps it
// huge and write-protected (change_huge_pmd): two flushes, pmdp_invalidate's
// flush of the 2 MiB and change_protection_range's final flush_tlb_range,
// each a full local flush (512 pages > the ceiling); no split.
func TestTHPMprotectWhole(t *testing.T) {
	m, mm := newTHPMachine(t, 1)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			a := mmapAnon(t, v, 1024)
			h := (a + hpageSize - 1) &^ (hpageSize - 1)
			putWords(t, v, h+5*4096, 0x55)
			gen, full := mm.tlbGen, m.nrTLBLocalFlushAll
			if r := v.sysMprotect(h, hpageSize, protRead); r != 0 {
				t.Fatalf("mprotect = %d", r)
			}
			if m.thpSplitPMD != 0 {
				t.Errorf("thp_split_pmd = %d, want 0", m.thpSplitPMD)
			}
			if d := mm.tlbGen - gen; d != 2 {
				t.Errorf("mprotect issued %d flushes, want 2 (pmdp_invalidate + flush_tlb_range)", d)
			}
			if d := m.nrTLBLocalFlushAll - full; d != 2 {
				t.Errorf("local full flushes %d, want 2", d)
			}
			e := pmdOf(m, mm, h)
			if e&(tlb.PteP|tlb.PtePS|tlb.PteD) != tlb.PteP|tlb.PtePS|tlb.PteD || pteWrite(e) {
				t.Errorf("PMD %#x, want present huge read-only, D kept", e)
			}
			if got := getWord(t, v, h+5*4096); got != 0x55 {
				t.Errorf("read %#x", got)
			}
			detach(v)
		},
	})
}

// TestTHPMprotectHalfSplits: mprotect of half a huge page splits it and
// write-protects only that half's PTEs.
func TestTHPMprotectHalfSplits(t *testing.T) {
	m, mm := newTHPMachine(t, 1)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			a := mmapAnon(t, v, 1024)
			h := (a + hpageSize - 1) &^ (hpageSize - 1)
			userAccess(v, h, true)
			if r := v.sysMprotect(h, hpageSize/2, protRead); r != 0 {
				t.Fatalf("mprotect = %d", r)
			}
			if m.thpSplitPMD != 1 {
				t.Errorf("thp_split_pmd = %d, want 1", m.thpSplitPMD)
			}
			if e := pte(m, mm, h); e&tlb.PteP == 0 || pteWrite(e) || e&tlb.PtePS != 0 {
				t.Errorf("PTE in the protected half %#x, want present read-only", e)
			}
			if e := pte(m, mm, h+hpageSize/2); e&tlb.PteP == 0 || !pteWrite(e) {
				t.Errorf("PTE in the other half %#x, want present writable", e)
			}
			detach(v)
		},
	})
}

// TestStaleStoreOnHugePageInWindow: a store through a stale 4 KiB
// translation of a huge page whose PMD is still present and maps the same
// 2 MiB page, made while the write-protecting operation runs (fork's
// copy_huge_pmd before flush_tlb_mm), is ordered before that operation: in
// the window, not a lost COW copy, although the PMD's PFN is the head
// frame and the store's is a tail frame.
func TestStaleStoreOnHugePageInWindow(t *testing.T) {
	m, mm := newMachineWith(t, 2, "5.10")
	v := m.cpus[0]
	attach(v, mm, 1)
	head := phys.PFN(1024)                                      // 2 MiB aligned
	pmd := mkPTE(head, tlb.PteP|tlb.PteUS|tlb.PteA) | tlb.PtePS // write-protected
	mm.revokeOps++
	v.onStaleWrite(tlb.VirtAddr(0x7f00_0020_5000), head+5, pmd, false)
	mm.revokeOps--
	if m.writeAfterCOW != 0 || m.staleInWindow != 1 {
		t.Errorf("write_after_cow %d, in window %d; want 0, 1", m.writeAfterCOW, m.staleInWindow)
	}
	// The PMD now maps another huge page: the store's frame was copied away.
	v.onStaleWrite(tlb.VirtAddr(0x7f00_0020_5000), head+5, mkPTE(head+512, tlb.PteP|tlb.PteUS|tlb.PteA|tlb.PteRW)|tlb.PtePS, true)
	if m.writeAfterCOW != 1 {
		t.Errorf("write_after_cow %d after the PMD moved, want 1", m.writeAfterCOW)
	}
}
