package kernelmodel

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// Transparent huge pages for anonymous memory (mm/huge_memory.c, v5.10),
// modelled only when Config.THP is set. A huge page is 512 contiguous
// frames from phys.AllocHuge whose head struct page has thp set; it is
// mapped by one PMD with the PS bit.
//
// Deviations (deliberate):
//   - A read fault allocates a huge page, as v5.10 does with
//     /sys/kernel/mm/transparent_hugepage/use_zero_page = 0 (the huge zero
//     page is not modelled).
//   - VMAs registered with userfaultfd never get a huge PMD (fault falls
//     back to PTEs).
//   - fork copies a huge PMD whole (copy_huge_pmd) and mprotect of a
//     whole huge PMD changes it whole (change_huge_pmd, except to
//     PROT_NONE, which splits); a partial mprotect, mremap, madvise other
//     than a whole-PMD MADV_DONTNEED, and userfaultfd ioctls split the
//     huge PMD first (__split_huge_pmd) and then take the existing 4 KiB
//     paths.
//   - A split maps the 512 subpages as independent 4 KiB pages, each
//     taking the head's refcount and mapcount: the compound page is not
//     kept. If the huge page is still PMD-mapped by another mm (after
//     fork), the head loses thp and each such PMD mapping counts as a
//     reference and mapping of every subpage (hugeDupRmap, zapHugePMD),
//     so a frame is freed only when its last mapping goes. A write to a
//     shared huge PMD splits it and the PTE path copies the written 4 KiB
//     subpage (do_huge_pmd_wp_page, v5.10); a PMD whose head was split
//     elsewhere is never reused whole, it splits on write.
//   - The page table that v5.10 deposits (pgtable_trans_huge_deposit, also
//     for the child in copy_huge_pmd) is allocated at split time instead.

const hpageSize = uint64(1) << 21 // HPAGE_PMD_SIZE

// vmFaultFallback is VM_FAULT_FALLBACK.
const vmFaultFallback = 0x0800

// pmdSlot returns the PMD entry slot for addr, or ok false if the PGD or
// PUD level is missing.
func (m *Machine) pmdSlot(mm *MM, addr uint64) (phys.Addr, bool) {
	table := mm.pgd
	for level := 4; level >= 3; level-- {
		e := m.mem.LoadPTE(table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(level)*8))
		if e&tlb.PteP == 0 {
			return 0, false
		}
		table = ptePFN(e)
	}
	return table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(2)*8), true
}

// pmdTransHuge reports whether a PMD entry maps a huge page (present or
// invalidated by pmdp_invalidate).
func pmdTransHuge(e uint64) bool { return e&tlb.PtePS != 0 }

// pmdAlloc walks pgd→pud for addr allocating missing levels (as
// pteOffsetAlloc does) and returns the PMD slot.
func (v *VCPU) pmdAlloc(mm *MM, addr uint64) (phys.Addr, error) {
	m := v.m
	table := mm.pgd
	for level := 4; level >= 3; level-- {
		ea := table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(level)*8)
		e := m.mem.LoadPTE(ea)
		if e&tlb.PteP == 0 {
			p, err := m.allocPage()
			if err != nil {
				return 0, err
			}
			v.spend(m.cfg.Costs.AllocPage)
			v.spinLock(&mm.pageTableLock)
			if e2 := m.mem.LoadPTE(ea); e2&tlb.PteP != 0 {
				m.putPage(p)
				e = e2
			} else {
				e = uint64(p.Addr()) | tableEntry
				m.mem.StorePTE(ea, e)
			}
			v.spinUnlock(&mm.pageTableLock)
		}
		table = ptePFN(e)
	}
	return table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(2)*8), nil
}

// thpEligible models transhuge_vma_suitable plus the anon checks of
// do_huge_pmd_anonymous_page: the aligned 2 MiB around addr lies inside an
// anonymous private VMA.
func thpEligible(vma *VMA, addr uint64) bool {
	h := addr &^ (hpageSize - 1)
	return vma.anon && vma.flags&VM_SHARED == 0 && vma.flags&(VM_UFFD_MISSING|VM_UFFD_WP) == 0 &&
		vma.flags&(VM_READ|VM_WRITE|VM_EXEC) != 0 && h >= vma.start && h+hpageSize <= vma.end
}

// handleHugePMD is the PMD level of __handle_mm_fault when THP is on. It
// returns vmFaultFallback to continue with the PTE level.
func (v *VCPU) handleHugePMD(vma *VMA, address uint64, flags int) int {
	m := v.m
	mm := v.curr.mm
	slot, err := v.pmdAlloc(mm, address)
	if err != nil {
		return vmFaultOOM
	}
	e := m.mem.LoadPTE(slot)
	switch {
	case e == 0:
		if !thpEligible(vma, address) {
			return vmFaultFallback
		}
		return v.doHugePMDAnonymousPage(vma, mm, slot, address)
	case !pmdTransHuge(e):
		return vmFaultFallback
	case e&tlb.PteP == 0:
		return 0 // being invalidated or split: retry the access
	case flags&faultFlagWrite != 0 && !pteWrite(e):
		return v.doHugePMDWPPage(vma, mm, slot, address, e)
	}
	// huge_pmd_set_accessed: mark young (and dirty for a write), no flush.
	v.spinLock(&mm.pageTableLock)
	if cur := m.mem.LoadPTE(slot); cur == e {
		n := pteMkyoung(e)
		if flags&faultFlagWrite != 0 {
			n = pteMkdirty(n)
		}
		if n != e {
			m.mem.StorePTE(slot, n)
		}
	}
	v.spinUnlock(&mm.pageTableLock)
	return 0
}

// doHugePMDAnonymousPage models do_huge_pmd_anonymous_page →
// __do_huge_pmd_anonymous_page: allocate and clear a 2 MiB page
// (clear_huge_page clears 512 subpages: ZeroPage×512), then set the huge
// PMD under pmd_lock (mm->page_table_lock for PMDs).
func (v *VCPU) doHugePMDAnonymousPage(vma *VMA, mm *MM, slot phys.Addr, address uint64) int {
	m := v.m
	head, err := m.mem.AllocHuge()
	if err != nil {
		return vmFaultFallback // count_vm_event(THP_FAULT_FALLBACK)
	}
	v.spend(m.cfg.Costs.AllocPage + m.cfg.Costs.ZeroPage*phys.HugeFrames)
	v.spinLock(&mm.pageTableLock)
	if m.mem.LoadPTE(slot) != 0 {
		v.spinUnlock(&mm.pageTableLock)
		m.mem.FreeHuge(head)
		return 0
	}
	for i := phys.PFN(0); i < phys.HugeFrames; i++ {
		m.pages[head+i] = Page{}
	}
	vma.anonVMA = true // do_huge_pmd_anonymous_page: anon_vma_prepare
	m.pages[head] = Page{refcount: 1, mapcount: 1, anon: true, lru: true, thp: true, exclusive: true}
	entry := mkPTE(head, vmPageProt(vma.flags)) | tlb.PtePS
	if vma.flags&VM_WRITE != 0 {
		entry = pteMkwrite(pteMkdirty(entry)) // maybe_pmd_mkwrite(pmd_mkdirty)
	}
	entry = pteMkyoung(entry)
	m.mem.StorePTE(slot, entry) // set_pmd_at; no flush: the slot was empty
	v.spinUnlock(&mm.pageTableLock)
	m.anonFaults++
	m.thpFaultAlloc++ // count_vm_event(THP_FAULT_ALLOC)
	return 0
}

// doHugePMDWPPage models wp_huge_pmd → do_huge_pmd_wp_page (v5.10): reuse
// the page in place if it is exclusively mapped (reuse_swap_page: mapcount
// 1 and refcount 1), else split the PMD and fall back to the PTE path.
func (v *VCPU) doHugePMDWPPage(vma *VMA, mm *MM, slot phys.Addr, address, orig uint64) int {
	m := v.m
	v.spinLock(&mm.pageTableLock)
	if m.mem.LoadPTE(slot) != orig {
		v.spinUnlock(&mm.pageTableLock)
		return 0
	}
	pg := &m.pages[ptePFN(orig)]
	if pg.thp && pg.refcount == 1 && pg.mapcount == 1 && !pg.locked {
		// pmdp_set_access_flags(mkyoung, mkdirty, maybe_mkwrite): a
		// permission promotion, no flush.
		n := pteMkyoung(pteMkdirty(orig))
		if vma.flags&VM_WRITE != 0 {
			n = pteMkwrite(n)
		}
		m.mem.StorePTE(slot, n)
		v.spinUnlock(&mm.pageTableLock)
		m.wpReuse++
		return vmFaultWrite
	}
	v.spinUnlock(&mm.pageTableLock)
	v.splitHugePMD(mm, address)
	return vmFaultFallback
}

// splitHugePMD models __split_huge_pmd for the anonymous huge PMD mapping
// addr (if any): under pmd_lock, pmdp_invalidate (mark it non-present and
// flush_tlb_range of the 2 MiB: 512 pages > the ceiling, so a full flush),
// then populate a PTE table with the 512 subpages carrying the PMD's
// write, dirty, young and soft-dirty bits, and install it
// (pmd_populate).
func (v *VCPU) splitHugePMD(mm *MM, addr uint64) {
	m := v.m
	slot, ok := m.pmdSlot(mm, addr)
	if !ok || !pmdTransHuge(m.mem.LoadPTE(slot)) {
		return
	}
	haddr := addr &^ (hpageSize - 1)
	pt, err := m.allocPage() // the deposited page table
	if err != nil {
		return
	}
	v.spend(m.cfg.Costs.AllocPage)
	v.spinLock(&mm.pageTableLock)
	old := m.mem.LoadPTE(slot)
	if !pmdTransHuge(old) {
		v.spinUnlock(&mm.pageTableLock)
		m.putPage(pt)
		return
	}
	// pmdp_invalidate: pmdp_establish(pmd_mkinvalid), then flush.
	old = m.mem.SwapPTE(slot, old&^tlb.PteP)
	v.flushTLBRange(mm, haddr, haddr+hpageSize)
	head := ptePFN(old)
	prot := old & (tlb.PteP | tlb.PteRW | tlb.PteUS | tlb.PteA | tlb.PteD | tlb.PteNX | tlb.PteSoftDirty | tlb.PteUffdWP)
	prot |= tlb.PteP
	hp := m.pages[head]
	for i := phys.PFN(0); i < phys.HugeFrames; i++ {
		// A head that is no longer thp was split by another mm: each
		// subpage already counts this PMD's mapping (hugeDupRmap).
		if hp.thp {
			m.pages[head+i] = Page{refcount: hp.refcount, mapcount: hp.mapcount, anon: true, lru: true}
		}
		m.mem.StorePTE(pt.Addr()+phys.Addr(i*8), mkPTE(head+i, prot))
		v.spend(m.cfg.Costs.PTEUpdate)
	}
	m.mem.StorePTE(slot, uint64(pt.Addr())|tableEntry) // pmd_populate
	v.spinUnlock(&mm.pageTableLock)
	m.thpSplitPMD++ // count_vm_event(THP_SPLIT_PMD)
}

// splitHugePMDRange splits every huge PMD overlapping [start, end).
func (v *VCPU) splitHugePMDRange(mm *MM, start, end uint64) {
	if !v.m.cfg.THP {
		return
	}
	for a := start &^ (hpageSize - 1); a < end && a >= start&^(hpageSize-1); a += hpageSize {
		v.splitHugePMD(mm, a)
	}
}

// zapHugePMD models zap_pmd_range's huge branch for [addr, next) inside
// one PMD: a range covering the whole huge page is zapped with
// zap_huge_pmd (clear the PMD, tlb_remove_pmd_tlb_entry widens the gather
// by 2 MiB, the page is freed after the flush); a partial one splits
// first. It reports whether it handled the range.
func (v *VCPU) zapHugePMD(t *mmuGather, addr, next uint64) bool {
	m := v.m
	mm := t.mm
	if !m.cfg.THP {
		return false
	}
	slot, ok := m.pmdSlot(mm, addr)
	if !ok || !pmdTransHuge(m.mem.LoadPTE(slot)) {
		return false
	}
	haddr := addr &^ (hpageSize - 1)
	if addr != haddr || next-addr != hpageSize {
		v.splitHugePMD(mm, addr)
		return false
	}
	v.spinLock(&mm.pageTableLock)
	old := m.mem.SwapPTE(slot, 0) // pmdp_huge_get_and_clear_full
	v.spend(m.cfg.Costs.PTEUpdate)
	if !t.fullmm {
		t.start = min(t.start, haddr)
		t.end = max(t.end, haddr+hpageSize)
	}
	t.clearedPMDs = true
	head := ptePFN(old)
	if m.pages[head].thp {
		m.pages[head].mapcount-- // page_remove_rmap(page, true)
		m.pages[head].gathered++
		t.pages = append(t.pages, head)
	} else {
		// Split by another mm while this PMD kept it whole: this
		// mapping holds each of the 512 subpages (hugeDupRmap).
		for i := phys.PFN(0); i < phys.HugeFrames; i++ {
			m.pages[head+i].mapcount--
			m.pages[head+i].gathered++
			t.pages = append(t.pages, head+i)
		}
	}
	v.spinUnlock(&mm.pageTableLock)
	return true
}

// clearRefsHugePMD models clear_refs_pte_range's huge branch for the PMD
// covering addr: type 4 clear_soft_dirty_pmd (pmdp_invalidate, which
// flushes the 2 MiB range, then set the write-protected PMD without
// soft-dirty, keeping dirty and young), types 1-3 clear young. It reports
// whether addr was huge-mapped.
func (v *VCPU) clearRefsHugePMD(mm *MM, addr uint64, typ int) bool {
	m := v.m
	if !m.cfg.THP {
		return false
	}
	slot, ok := m.pmdSlot(mm, addr)
	if !ok || !pmdTransHuge(m.mem.LoadPTE(slot)) {
		return false
	}
	haddr := addr &^ (hpageSize - 1)
	v.spinLock(&mm.pageTableLock)
	e := m.mem.LoadPTE(slot)
	if e&tlb.PteP != 0 {
		if typ == clearRefsSoftDirty {
			old := m.mem.SwapPTE(slot, e&^tlb.PteP) // pmdp_invalidate
			v.flushTLBRange(mm, haddr, haddr+hpageSize)
			m.mem.StorePTE(slot, old&^(tlb.PteRW|tlb.PteSoftDirty)) // set_pmd_at
		} else {
			m.mem.StorePTE(slot, e&^tlb.PteA) // pmdp_test_and_clear_young, no flush
		}
		v.spend(m.cfg.Costs.PTEUpdate)
	}
	v.spinUnlock(&mm.pageTableLock)
	return true
}

// hugeDupRmap models get_page + page_dup_rmap(page, true) for a huge PMD
// mapping head. A head that is no longer thp was split in another mm while
// this PMD kept it whole: every holder of it holds each of the 512
// subpages (see splitHugePMD), so the new mapping takes all 512. The
// pages are shared from now on: not PageAnonExclusive.
func (m *Machine) hugeDupRmap(head phys.PFN) {
	if m.pages[head].thp {
		m.getPage(head)
		m.pages[head].mapcount++
		m.pages[head].exclusive = false
		return
	}
	for i := phys.PFN(0); i < phys.HugeFrames; i++ {
		m.getPage(head + i)
		m.pages[head+i].mapcount++
		m.pages[head+i].exclusive = false
	}
}

// copyHugePMD models copy_huge_pmd (mm/huge_memory.c, v5.10) for the
// PMD of the parent's huge anonymous page at haddr, called from
// copy_page_range when the whole 2 MiB lies in the (COW) source VMA:
// under the child's pmd_lock and then the parent's, get_page +
// page_dup_rmap, pmdp_set_wrprotect on the parent (an atomic clear of RW
// that keeps D; no flush: dup_mmap's flush_tlb_mm covers it), and the
// child's PMD write-protected and old. The page table v5.10 deposits for
// the child (pgtable_trans_huge_deposit) is not allocated (split
// allocates one instead). It reports whether it handled the PMD: false
// for a PMD that is not huge.
func (v *VCPU) copyHugePMD(dstMM, srcMM *MM, src *VMA, haddr uint64) (bool, int64) {
	m := v.m
	sslot, ok := m.pmdSlot(srcMM, haddr)
	if !ok || !pmdTransHuge(m.mem.LoadPTE(sslot)) {
		return false, 0
	}
	dslot, err := v.pmdAlloc(dstMM, haddr)
	if err != nil {
		return true, -ENOMEM
	}
	v.spinLock(&dstMM.pageTableLock)
	v.spinLock(&srcMM.pageTableLock)
	e := m.mem.LoadPTE(sslot)
	m.hugeDupRmap(ptePFN(e))
	if isCOWMapping(src.flags) && pteWrite(e) {
		m.mem.StorePTE(sslot, m.mem.LoadPTE(sslot)&^tlb.PteRW) // pmdp_set_wrprotect
		e = pteWrprotect(e)
	}
	e &^= tlb.PteA // pmd_mkold
	if src.flags&VM_UFFD_WP == 0 {
		e &^= tlb.PteUffdWP
	}
	m.mem.StorePTE(dslot, e) // set_pmd_at
	v.spend(m.cfg.Costs.PTEUpdate)
	v.spinUnlock(&srcMM.pageTableLock)
	v.spinUnlock(&dstMM.pageTableLock)
	return true, 0
}

// changeHugePMD models change_huge_pmd (v5.10) for a present huge PMD
// whose whole 2 MiB [haddr, haddr+2 MiB) is being changed: under
// pmd_lock, pmdp_invalidate (clear present, then flush_pmd_tlb_range,
// which on x86 is flush_tlb_range of the 2 MiB: 512 pages > the ceiling,
// a full flush), pmd_modify with newprot (keeping PSE), the uffd-wp
// bits as change_pte_range sets them, set_pmd_at. change_protection_range
// counts HPAGE_PMD_NR pages and still issues its own flush_tlb_range at
// the end. A PROT_NONE newprot is not modelled huge (the caller splits).
// It returns the pages changed (0 if the PMD is not a present huge PMD).
func (v *VCPU) changeHugePMD(mm *MM, haddr, newprot uint64, cpFlags int) int {
	m := v.m
	slot, ok := m.pmdSlot(mm, haddr)
	if !ok {
		return 0
	}
	v.spinLock(&mm.pageTableLock)
	e := m.mem.LoadPTE(slot)
	if !pmdTransHuge(e) || e&tlb.PteP == 0 {
		v.spinUnlock(&mm.pageTableLock)
		return 0
	}
	old := m.mem.SwapPTE(slot, e&^tlb.PteP) // pmdp_invalidate: pmdp_establish(pmd_mkinvalid)
	v.flushTLBRange(mm, haddr, haddr+hpageSize)
	n := pteModify(old, newprot) | tlb.PtePS // pmd_modify: _HPAGE_CHG_MASK keeps PSE
	switch {
	case cpFlags&mmCPUffdWP != 0:
		n = pteWrprotect(n) | tlb.PteUffdWP
	case cpFlags&mmCPUffdWPResolve != 0:
		n &^= tlb.PteUffdWP
	}
	m.mem.StorePTE(slot, n) // set_pmd_at
	v.spend(m.cfg.Costs.PTEUpdate)
	v.spinUnlock(&mm.pageTableLock)
	return phys.HugeFrames
}
