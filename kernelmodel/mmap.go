package kernelmodel

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// mmap prot and flags (include/uapi/asm-generic/mman-common.h).
const (
	protRead  = 0x1
	protWrite = 0x2
	protExec  = 0x4

	mapShared    = 0x01
	mapPrivate   = 0x02
	mapFixed     = 0x10
	mapAnonymous = 0x20
	mapPopulate  = 0x8000
	// mapFixedNoreplace is MAP_FIXED_NOREPLACE: MAP_FIXED that fails with
	// -EEXIST instead of replacing a mapping.
	mapFixedNoreplace = 0x100000
	// stackGuardGap is the default stack_guard_gap (256 pages) kept free
	// below a VM_GROWSDOWN mapping.
	stackGuardGap = 256 << 12
)

const taskSize = uint64(0x7fff_ffff_f000) // TASK_SIZE_MAX for 4-level paging

func protToVMFlags(prot uint64) uint64 {
	var f uint64
	if prot&protRead != 0 {
		f |= VM_READ
	}
	if prot&protWrite != 0 {
		f |= VM_WRITE
	}
	if prot&protExec != 0 {
		f |= VM_EXEC
	}
	return f
}

// sysMmap models mmap for anonymous mappings (do_mmap → mmap_region) under
// mmap_write_lock. New VMAs carry VM_SOFTDIRTY, as mmap_region sets it.
func (v *VCPU) sysMmap(addr, length, prot, flags uint64, fd int64) int64 {
	if length == 0 || prot&^uint64(protRead|protWrite|protExec) != 0 {
		return -EINVAL
	}
	length = (length + 0xfff) &^ 0xfff
	if length == 0 || length > taskSize {
		return -ENOMEM
	}
	typ := flags & (mapShared | mapPrivate)
	if typ != mapShared && typ != mapPrivate {
		return -EINVAL
	}
	// do_mmap: "Too many mappings?" (mm/mmap.c at v5.10). Kernel code
	// runs serially in the model, so reading the count here is as good as
	// under mmap_lock.
	if len(v.curr.mm.vmas) > sysctlMaxMapCount {
		return -ENOMEM
	}
	if flags&mapAnonymous == 0 {
		return v.mmapFile(addr, length, prot, flags, fd, 0) // filemap.go
	}
	mm := v.curr.mm
	v.mmapWriteLock(mm)
	defer v.mmapWriteUnlock(mm)
	addr, errno := v.getUnmappedAreaLocked(mm, addr, length, flags)
	if errno != 0 {
		return errno
	}
	vf := mmapVMFlags(prot, typ)
	vma := &VMA{start: addr, end: addr + length, flags: vf, anon: true}
	if typ == mapShared {
		// shmem_zero_setup: a shared anonymous mapping is backed by an
		// unlinked shmem file of its length ("/dev/zero (deleted)"), so
		// its faults go through do_fault and the page cache.
		vma.anon = false
		vma.name = "/dev/zero (deleted)"
		vma.file = &shmemFile{name: vma.name, size: length, cache: map[uint64]phys.PFN{}}
		vma.fileBias = -int64(addr >> 12)
	}
	mm.insertVMA(vma)
	v.spend(v.m.cfg.Costs.SyscallEntryExit) // mmap_region bookkeeping: ASSUMPTION one syscall's worth
	return int64(addr)
}

// getUnmappedAreaLocked picks the address of a new mapping, with mmap_lock
// held for write: MAP_FIXED replaces whatever is mapped there (do_mmap →
// do_munmap), otherwise get_unmapped_area searches top-down.
func (v *VCPU) getUnmappedAreaLocked(mm *MM, addr, length, flags uint64) (uint64, int64) {
	if flags&(mapFixed|mapFixedNoreplace) != 0 {
		if addr&0xfff != 0 || addr+length > taskSize || addr+length < addr {
			return 0, -EINVAL
		}
		if !mm.free(addr, addr+length) {
			if flags&mapFixed == 0 {
				return 0, -EEXIST // do_mmap: MAP_FIXED_NOREPLACE over a mapping
			}
			v.doMunmapLocked(mm, addr, addr+length)
		}
		return addr, 0
	}
	if addr != 0 {
		// A hint (arch_get_unmapped_area_topdown): taken when the page-
		// aligned range is free, above mmap_min_addr, and clear of a
		// stack's guard gap.
		addr = (addr + 0xfff) &^ 0xfff
		if addr >= mmapMinAddr && addr <= taskSize-length && mm.free(addr, addr+length) {
			next := mm.findVMAAbove(addr)
			if next == nil || next.flags&VM_GROWSDOWN == 0 || addr+length+stackGuardGap <= next.start {
				return addr, 0
			}
		}
	}
	addr = mm.getUnmappedArea(length)
	if addr == 0 {
		return 0, -ENOMEM
	}
	return addr, 0
}

// mmapVMFlags returns a new mapping's vm_flags: do_mmap gives every
// anonymous or read-write-opened (memfd) mapping all VM_MAY* bits, new VMAs
// are VM_SOFTDIRTY (mmap_region), and a private writable mapping is
// accounted (VM_ACCOUNT).
func mmapVMFlags(prot, typ uint64) uint64 {
	vf := protToVMFlags(prot) | VM_SOFTDIRTY | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
	if typ == mapShared {
		vf |= VM_SHARED | VM_MAYSHARE
	} else if vf&VM_WRITE != 0 {
		vf |= VM_ACCOUNT
	}
	return vf
}

// sysMunmap models munmap (__vm_munmap → __do_munmap, mm/mmap.c v5.10):
// with nothing mapped in the range it returns under the write lock; else it
// detaches the VMAs under the write lock and downgrades to the read lock
// for unmap_region, so faults run concurrently with the zap and its
// deferred flush — except when the next VMA is VM_GROWSDOWN ("downgrade =
// false" next to a stack that may expand into the hole; VM_GROWSUP does
// not exist on x86), where the zap runs under the write lock.
func (v *VCPU) sysMunmap(addr, length uint64) int64 {
	if addr&0xfff != 0 || length == 0 || addr >= taskSize || length > taskSize-addr {
		return -EINVAL
	}
	end := addr + (length+0xfff)&^0xfff
	mm := v.curr.mm
	v.mmapWriteLock(mm)
	v.vmaStartWriteRange(mm, addr, end, false)
	detached := mm.detachVMAs(addr, end)
	if len(detached) == 0 {
		v.mmapWriteUnlock(mm)
		return 0
	}
	downgrade := mm.munmapDowngrades(end)
	if downgrade {
		v.mmapWriteDowngrade(mm)
	}
	v.unmapRegion(mm, addr, end)
	v.releaseDetached(detached)
	if downgrade {
		v.mmapReadUnlock(mm)
	} else {
		v.mmapWriteUnlock(mm)
	}
	return 0
}

// munmapDowngrades reports whether __do_munmap, having detached the VMAs
// below end, downgrades mmap_lock: not when the next VMA grows down.
func (mm *MM) munmapDowngrades(end uint64) bool {
	next := mm.findVMAAbove(end)
	return next == nil || next.flags&VM_GROWSDOWN == 0
}

// doMunmapLocked unmaps [start, end) with mmap_lock held for write.
func (v *VCPU) doMunmapLocked(mm *MM, start, end uint64) {
	v.vmaStartWriteRange(mm, start, end, false)
	if gone := mm.detachVMAs(start, end); len(gone) > 0 {
		v.unmapRegion(mm, start, end)
		v.releaseDetached(gone)
	}
}

// detachVMAs removes [start, end) from the VMA list, splitting VMAs that
// straddle the boundaries, and returns the removed pieces.
func (mm *MM) detachVMAs(start, end uint64) []*VMA {
	var keep, gone []*VMA
	for _, vma := range mm.vmas {
		if vma.end <= start || vma.start >= end {
			keep = append(keep, vma)
			continue
		}
		if vma.start < start {
			l := *vma
			l.end = start
			keep = append(keep, &l)
		}
		if vma.end > end {
			r := *vma
			r.start = end
			keep = append(keep, &r)
		}
		g := *vma
		g.start, g.end = max(vma.start, start), min(vma.end, end)
		gone = append(gone, &g)
	}
	mm.vmas = keep
	if len(gone) > 0 {
		mm.gaps = gapCache{} // gaps grew
	}
	return gone
}

// mmuGather is struct mmu_gather (include/asm-generic/tlb.h, v5.10).
type mmuGather struct {
	mm          *MM
	start, end  uint64
	fullmm      bool
	freedTables bool
	clearedPTEs bool
	clearedPMDs bool
	pages       []phys.PFN
}

// tlbGatherMMU models tlb_gather_mmu: it raises tlb_flush_pending.
func (v *VCPU) tlbGatherMMU(mm *MM, start, end uint64) *mmuGather {
	t := &mmuGather{mm: mm, fullmm: start == 0 && end == ^uint64(0)}
	t.resetRange()
	mm.tlbFlushPending++ // inc_tlb_flush_pending
	v.traceFlushPending(mm)
	v.spend(v.m.cfg.Costs.LockedRMW)
	return t
}

func (t *mmuGather) resetRange() {
	if t.fullmm {
		t.start, t.end = ^uint64(0), ^uint64(0)
	} else {
		t.start, t.end = taskSize, 0
	}
	t.freedTables, t.clearedPTEs, t.clearedPMDs = false, false, false
}

// tlbRemoveTLBEntry models tlb_remove_tlb_entry: widen the range to flush.
func (t *mmuGather) tlbRemoveTLBEntry(addr uint64) {
	if !t.fullmm {
		t.start = min(t.start, addr)
		t.end = max(t.end, addr+4096)
	}
	t.clearedPTEs = true
}

// tlbFlushPMDRange models tlb_flush_pmd_range (include/asm-generic/tlb.h,
// v5.10): a PMD entry was cleared, so the range to flush widens to cover
// [addr, addr+size) and cleared_pmds is set.
func (t *mmuGather) tlbFlushPMDRange(addr, size uint64) {
	if !t.fullmm {
		t.start = min(t.start, addr)
		t.end = max(t.end, addr+size)
	}
	t.clearedPMDs = true
}

// tlbFlushMMU models tlb_flush_mmu: flush if anything was batched (x86
// tlb_flush → flush_tlb_mm_range), then free the batched pages
// (tlb_flush_mmu_free → tlb_batch_pages_flush → free_pages_and_swap_cache,
// mm/swap_state.c at v5.10, which starts with lru_add_drain: this CPU's
// lru_add pagevec gives up its references first, so a page it held is
// freed here, not at the pagevec's next drain). Page tables are in the same
// batch, as on x86 without CONFIG_PARAVIRT (___pte_free_tlb →
// paravirt_tlb_remove_table → tlb_remove_page).
func (v *VCPU) tlbFlushMMU(t *mmuGather) {
	v.tlbFlushMMUTLBOnly(t) // pagecache.go
	// tlb_batch_pages_flush calls free_pages_and_swap_cache only for a
	// batch that holds pages.
	if len(t.pages) > 0 && !v.m.on.lruDrainRemoval {
		v.lruAddDrain()
	}
	v.releasePages(t.pages) // lru.go
	t.pages = t.pages[:0]
}

// tlbFinishMMU models tlb_finish_mmu: a nested batch (another mmu_gather of
// this mm in flight) forces a full flush with freed_tables, then the
// pending count drops.
func (v *VCPU) tlbFinishMMU(t *mmuGather) {
	if t.mm.tlbFlushPending > 1 { // mm_tlb_flush_nested
		t.fullmm = true
		t.resetRange()
		t.freedTables = true
	}
	v.tlbFlushMMU(t)
	t.mm.tlbFlushPending-- // dec_tlb_flush_pending
	v.traceFlushPending(t.mm)
}

// unmapRegion models unmap_region (mm/mmap.c, v5.10): lru_add_drain, then
// zap the PTEs of [start, end) into an mmu_gather, free page tables that no
// VMA uses any more, and finish the gather (which flushes).
func (v *VCPU) unmapRegion(mm *MM, start, end uint64) {
	v.lruAddDrain()
	t := v.tlbGatherMMU(mm, start, end)
	v.zapRange(t, start, end)
	v.freePgtables(t, start, end)
	v.tlbFinishMMU(t)
}

// zapRange models unmap_vmas → zap_pte_range (mm/memory.c, v5.10): a
// dirty PTE of a file page sets force_flush, so the TLB is flushed before
// the PTL is dropped and the batch freed after.
func (v *VCPU) zapRange(t *mmuGather, start, end uint64) {
	m := v.m
	mm := t.mm
	for addr := start; addr < end; {
		if v.zapHugePMD(t, addr, regionEnd(addr, 21, end)) {
			addr = regionEnd(addr, 21, end)
			continue
		}
		pte, pt, next, ok := m.pteTable(mm, addr, end) // skips missing upper levels
		if !ok {
			addr = next
			continue
		}
		ptl := m.ptlOf(pt)
		v.spinLock(ptl)
		forceFlush := false
		for a := addr; a < next; a += 4096 {
			slot := pte + phys.Addr(((a-addr)>>12)*8)
			e := m.mem.LoadPTE(slot)
			if pteNone(e) {
				continue
			}
			v.c.Clock += m.cfg.Costs.PTEUpdate
			old := m.mem.SwapPTE(slot, 0) // ptep_get_and_clear_full
			t.tlbRemoveTLBEntry(a)
			p := ptePFN(old)
			if p != m.zeroPage && old&tlb.PteSpecial == 0 {
				if !m.pages[p].anon && old&tlb.PteD != 0 {
					forceFlush = true // a dirty file page: flush before the PTL goes (set_page_dirty)
				}
				m.pages[p].mapcount-- // page_remove_rmap
				m.pages[p].gathered++
				t.pages = append(t.pages, p)
			}
		}
		if forceFlush {
			v.tlbFlushMMUTLBOnly(t) // zap_pte_range: "Do the actual TLB flush before dropping ptl"
		}
		v.spinUnlock(ptl)
		if forceFlush {
			v.tlbFlushMMU(t) // and free the batched pages
		}
		v.preempt()
		addr = next
	}
}

// freePgtables models free_pgtables for the PTE level: a PTE table whose
// 2 MiB span no VMA covers any more is unlinked and freed, which sets
// freed_tables (so lazy CPUs get the flush IPI too).
func (v *VCPU) freePgtables(t *mmuGather, start, end uint64) {
	m := v.m
	mm := t.mm
	for base := start &^ (1<<21 - 1); base < end; {
		if _, _, next, ok := m.pteTable(mm, base, end); !ok {
			base = next &^ (1<<21 - 1) // no page table there: skip the whole missing level
			if next == end {
				break
			}
			continue
		}
		cur := base
		base += 1 << 21
		if base == 0 {
			base = end // wrapped
		}
		if !mm.free(cur, cur+1<<21) {
			continue
		}
		table := mm.pgd
		var pmdSlot phys.Addr
		ok := true
		for level := 4; level >= 2; level-- {
			ea := table.Addr() + phys.Addr(tlb.VirtAddr(cur).Index(level)*8)
			e := m.mem.LoadPTE(ea)
			if e&tlb.PteP == 0 {
				ok = false
				break
			}
			if level == 2 {
				pmdSlot = ea
			}
			table = ptePFN(e)
		}
		if !ok {
			continue
		}
		m.mem.StorePTE(pmdSlot, 0) // pmd_clear
		// free_pte_range → pte_free_tlb(tlb, token, addr)
		// (include/asm-generic/tlb.h, v5.10): tlb_flush_pmd_range(tlb, addr,
		// PAGE_SIZE) with addr the PMD-aligned start (free_pgd_range
		// rounds it down), freed_tables, then the table joins the batch.
		t.tlbFlushPMDRange(cur, 4096)
		t.freedTables = true
		m.pages[table].gathered++
		t.pages = append(t.pages, table) // tlb_remove_table: freed after the flush
	}
}

// exitMMap models exit_mmap (mm/mmap.c, v5.10): lru_add_drain, then a
// full-mm gather over every VMA (unmap_vmas), free_pgtables of the whole
// address space (FIRST_USER_ADDRESS to USER_PGTABLES_CEILING), which sets
// freed_tables, so tlb_finish_mmu's flush_tlb_mm_range also interrupts the
// CPUs that are lazy on the mm (native_flush_tlb_others skips them only
// without freed_tables), and the VMAs are removed after the flush.
func (v *VCPU) exitMMap(mm *MM) {
	if mm.dead {
		return
	}
	mm.dead = true
	v.endSoftDirtyInterval(mm) // the last clear_refs interval ends at exit
	v.lruAddDrain()
	t := v.tlbGatherMMU(mm, 0, ^uint64(0))
	for _, vma := range mm.vmas {
		v.zapRange(t, vma.start, vma.end)
	}
	gone := mm.vmas
	mm.vmas = nil // free_pgtables frees every PTE table: no VMA keeps one
	mm.gaps = gapCache{}
	v.freePgtables(t, 0, taskSize)
	v.tlbFinishMMU(t)
	v.releaseDetached(gone)
}
