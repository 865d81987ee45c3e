package kernelmodel

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// madvise advice values (include/uapi/asm-generic/mman-common.h, v5.10).
const (
	madvNormal      = 0
	madvRandom      = 1
	madvSequential  = 2
	madvWillneed    = 3
	madvDontneed    = 4
	madvFree        = 8
	madvRemove      = 9
	madvDontfork    = 10
	madvDofork      = 11
	madvMergeable   = 12
	madvUnmergeable = 13
	madvHugepage    = 14
	madvNohugepage  = 15
	madvDontdump    = 16
	madvDodump      = 17
	madvWipeonfork  = 18
	madvKeeponfork  = 19
	madvCold        = 20
	madvPageout     = 21
)

// madviseBehaviorValid models madvise_behavior_valid for a kernel with
// CONFIG_KSM and CONFIG_TRANSPARENT_HUGEPAGE but without
// CONFIG_MEMORY_FAILURE (MADV_HWPOISON and MADV_SOFT_OFFLINE, which inject
// memory errors, are EINVAL).
func madviseBehaviorValid(b uint64) bool {
	switch b {
	case madvDofork, madvDontfork, madvNormal, madvSequential, madvRandom, madvRemove,
		madvWillneed, madvDontneed, madvFree, madvCold, madvPageout,
		madvMergeable, madvUnmergeable, madvHugepage, madvNohugepage,
		madvDontdump, madvDodump, madvWipeonfork, madvKeeponfork:
		return true
	}
	return false
}

// madviseNeedMmapWrite models madvise_need_mmap_write: the advice values
// that only walk page tables take mmap_lock for read.
func madviseNeedMmapWrite(b uint64) bool {
	switch b {
	case madvRemove, madvWillneed, madvDontneed, madvCold, madvPageout, madvFree:
		return false
	}
	return true
}

// sysMadvise models do_madvise (mm/madvise.c, v5.10): argument checks, then
// madvise_vma on every VMA piece of [start, start+len) under mmap_lock (read
// for DONTNEED/FREE/WILLNEED/COLD/PAGEOUT/REMOVE, write otherwise). Holes
// are skipped but make the call return -ENOMEM at the end.
func (v *VCPU) sysMadvise(start, lenIn, behavior uint64) int64 {
	if !madviseBehaviorValid(behavior) {
		return -EINVAL
	}
	if start&0xfff != 0 {
		return -EINVAL
	}
	length := (lenIn + 0xfff) &^ 0xfff
	if lenIn != 0 && length == 0 {
		return -EINVAL
	}
	end := start + length
	if end < start {
		return -EINVAL
	}
	if end == start {
		return 0
	}
	mm := v.curr.mm
	write := madviseNeedMmapWrite(behavior)
	if ok, err := v.madviseUnderVMALock(mm, start, end, behavior); ok {
		return err
	}
	if write {
		v.mmapWriteLock(mm)
		defer v.mmapWriteUnlock(mm)
	} else {
		v.mmapReadLock(mm)
		defer v.mmapReadUnlock(mm)
	}
	var unmappedError int64
	vma := mm.findVMAAbove(start)
	for {
		if vma == nil {
			return -ENOMEM
		}
		if start < vma.start {
			unmappedError = -ENOMEM
			start = vma.start
			if start >= end {
				return -ENOMEM
			}
		}
		tmp := min(vma.end, end)
		cur, err := v.madviseVMA(mm, vma, start, tmp, behavior)
		if err != 0 {
			return err
		}
		start = max(tmp, cur.end)
		if start >= end {
			return unmappedError
		}
		vma = mm.findVMAAbove(start)
	}
}

// madviseVMA models madvise_vma: dispatch on the advice for [start, end)
// inside vma. It returns the VMA covering the range afterwards (the
// kernel's *prev).
func (v *VCPU) madviseVMA(mm *MM, vma *VMA, start, end, behavior uint64) (*VMA, int64) {
	switch behavior {
	case madvRemove:
		// madvise_remove: anonymous VMAs have no file to punch a hole in.
		return vma, -EINVAL
	case madvWillneed:
		// madvise_willneed for anonymous memory: swap-in (no swap is
		// modelled) then lru_add_drain.
		v.lruAddDrain()
		return vma, 0
	case madvCold, madvPageout:
		return vma, v.madviseColdOrPageout(mm, vma, start, end)
	case madvFree, madvDontneed:
		return vma, v.madviseDontneedFree(mm, vma, start, end, behavior)
	}
	return v.madviseBehavior(mm, vma, start, end, behavior)
}

// canMadvLRUVMA models can_madv_lru_vma.
func canMadvLRUVMA(vma *VMA) bool { return vma.flags&(VM_LOCKED|VM_HUGETLB|VM_PFNMAP) == 0 }

// madviseDontneedFree models madvise_dontneed_free. userfaultfd_remove has
// nothing to do: UFFD_FEATURE_EVENT_REMOVE is not offered.
func (v *VCPU) madviseDontneedFree(mm *MM, vma *VMA, start, end, behavior uint64) int64 {
	if !canMadvLRUVMA(vma) {
		return -EINVAL
	}
	if behavior == madvDontneed {
		v.zapPageRange(mm, start, end)
		return 0
	}
	return v.madviseFreeSingleVMA(mm, vma, start, end)
}

// zapPageRange models zap_page_range (mm/memory.c, v5.10), which
// madvise_dontneed_single_vma calls: lru_add_drain (not with
// PatchLRUDrainRemoval), then an mmu_gather over
// [start, end) — tlb_gather_mmu raises tlb_flush_pending, unmap_single_vma
// clears the PTEs and batches the pages, tlb_finish_mmu flushes the range
// and frees them. The caller holds mmap_lock for read only, so faults run
// during the deferred flush.
func (v *VCPU) zapPageRange(mm *MM, start, end uint64) {
	if !v.m.on.lruDrainRemoval {
		v.lruAddDrain()
	}
	t := v.tlbGatherMMU(mm, start, end)
	v.zapRange(t, start, end)
	v.tlbFinishMMU(t)
}

// madviseFreeSingleVMA models madvise_free_single_vma and
// madvise_free_pte_range (v5.10): for every mapped normal page, a young or
// dirty PTE is cleared, made old and clean (pte_mkclean clears the hardware
// D bit only) and re-set, and recorded in the mmu_gather, whose finish
// flushes the range. mark_page_lazyfree's lru_lazyfree pagevec reference
// is not modelled, nor is the later reclaim of clean lazy-free pages (the
// model has no reclaim).
func (v *VCPU) madviseFreeSingleVMA(mm *MM, vma *VMA, start, end uint64) int64 {
	if !vmaIsAnonymous(vma) {
		return -EINVAL
	}
	start, end = max(vma.start, start), min(vma.end, end)
	if start >= vma.end || end <= vma.start {
		return -EINVAL
	}
	v.lruAddDrain()
	t := v.tlbGatherMMU(mm, start, end)
	v.walkPTETables(mm, start, end, func(slot phys.Addr, addr uint64) {
		m := v.m
		e := m.mem.LoadPTE(slot)
		if !pteProtPresent(e) || !vmNormalPage(m, e) {
			return
		}
		if e&(tlb.PteA|tlb.PteD) != 0 {
			e = m.mem.SwapPTE(slot, 0) // ptep_get_and_clear_full
			m.mem.StorePTE(slot, e&^(tlb.PteA|tlb.PteD))
			t.tlbRemoveTLBEntry(addr)
			v.spend(m.cfg.Costs.PTEUpdate)
		}
	})
	v.tlbFinishMMU(t)
	return 0
}

// madviseColdOrPageout models madvise_cold / madvise_pageout (v5.10): under
// an mmu_gather, every young PTE of a page mapped only here that is on the
// LRU is made old and recorded, so tlb_finish_mmu flushes the range.
// Deactivation and, for MADV_PAGEOUT, reclaim are not modelled (there is no
// LRU aging or swap), so PAGEOUT behaves as COLD.
func (v *VCPU) madviseColdOrPageout(mm *MM, vma *VMA, start, end uint64) int64 {
	if !canMadvLRUVMA(vma) {
		return -EINVAL
	}
	v.lruAddDrain()
	t := v.tlbGatherMMU(mm, start, end)
	v.walkPTETables(mm, start, end, func(slot phys.Addr, addr uint64) {
		m := v.m
		e := m.mem.LoadPTE(slot)
		if e&tlb.PteP == 0 || !vmNormalPage(m, e) {
			return
		}
		pg := &m.pages[ptePFN(e)]
		if !pg.lru || pg.mapcount != 1 {
			return
		}
		if e&tlb.PteA != 0 {
			e = m.mem.SwapPTE(slot, 0)
			m.mem.StorePTE(slot, e&^tlb.PteA)
			t.tlbRemoveTLBEntry(addr)
			v.spend(m.cfg.Costs.PTEUpdate)
		}
	})
	v.tlbFinishMMU(t)
	return 0
}

// madviseBehavior models madvise_behavior (v5.10): the advice values that
// only change vm_flags, merging or splitting the VMA like mprotect_fixup.
// KSM and khugepaged are not modelled: MADV_MERGEABLE and MADV_HUGEPAGE
// only set their flags.
func (v *VCPU) madviseBehavior(mm *MM, vma *VMA, start, end, behavior uint64) (*VMA, int64) {
	nf := vma.flags
	switch behavior {
	case madvNormal:
		nf &^= VM_RAND_READ | VM_SEQ_READ
	case madvSequential:
		nf = nf&^VM_RAND_READ | VM_SEQ_READ
	case madvRandom:
		nf = nf&^VM_SEQ_READ | VM_RAND_READ
	case madvDontfork:
		nf |= VM_DONTCOPY
	case madvDofork:
		if vma.flags&VM_IO != 0 {
			return vma, -EINVAL
		}
		nf &^= VM_DONTCOPY
	case madvWipeonfork:
		if vmaFileBacked(vma) {
			return vma, -EINVAL // only anonymous private memory
		}
		nf |= VM_WIPEONFORK
	case madvKeeponfork:
		nf &^= VM_WIPEONFORK
	case madvDontdump:
		nf |= VM_DONTDUMP
	case madvDodump:
		if nf&VM_SPECIAL != 0 {
			return vma, -EINVAL
		}
		nf &^= VM_DONTDUMP
	case madvMergeable: // ksm_madvise
		if nf&(VM_MERGEABLE|VM_SHARED|VM_MAYSHARE|VM_PFNMAP|VM_IO|VM_DONTEXPAND|VM_HUGETLB|VM_MIXEDMAP) == 0 {
			nf |= VM_MERGEABLE
		}
	case madvUnmergeable:
		nf &^= VM_MERGEABLE
	case madvHugepage: // hugepage_madvise
		nf = nf&^VM_NOHUGEPAGE | VM_HUGEPAGE
	case madvNohugepage:
		nf = nf&^VM_HUGEPAGE | VM_NOHUGEPAGE
	}
	if nf == vma.flags {
		return vma, 0
	}
	vma, err := v.vmaModifyCharged(mm, vma, start, end, nf, vma.uffd)
	if err == -ENOMEM {
		return nil, -EAGAIN // madvise reports a failed split as EAGAIN
	}
	vma.flags = nf
	return vma, 0
}

// vmNormalPage models vm_normal_page's NULL cases on the model's PTEs: the
// zero page and other special mappings have no struct page to act on.
func vmNormalPage(m *Machine, e uint64) bool {
	return e&tlb.PteSpecial == 0 && ptePFN(e) != m.zeroPage
}

// walkPTETables models walk_page_range's pmd_entry loop for 4 KiB pages:
// for every page table covering part of [start, end), take its split lock
// and call fn for each PTE slot, then release it. Missing tables are
// skipped.
func (v *VCPU) walkPTETables(mm *MM, start, end uint64, fn func(slot phys.Addr, addr uint64)) {
	m := v.m
	v.splitHugePMDRange(mm, start, end) // THP: split, then walk the PTEs
	for addr := start; addr < end; {
		pte, pt, next, ok := m.pteTable(mm, addr, end)
		if ok {
			ptl := m.ptlOf(pt)
			v.spinLock(ptl)
			for a := addr; a < next; a += 4096 {
				fn(pte+phys.Addr(((a-addr)>>12)*8), a)
			}
			v.spinUnlock(ptl)
		}
		addr = next
	}
}
