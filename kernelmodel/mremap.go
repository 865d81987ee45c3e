package kernelmodel

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// mremap (mm/mremap.c, v5.10) for anonymous and memfd VMAs, under
// mmap_write_lock for the whole call.
//
// Moving a mapping (move_vma → move_page_tables → move_ptes) transfers the
// PTEs to the new range under the old table's PTL and the new table's
// (nested), and — because v5.10 move_ptes sets force_flush for any present
// PTE it moved — flushes the old range of that chunk (flush_tlb_range)
// before dropping the PTLs. Chunks are the PMD extents of both ranges,
// capped at LATENCY_LIMIT (64 pages): one flush per chunk that had a
// present PTE. The old VMA is then unmapped with do_munmap, which finds no
// PTEs but may free the old page tables (free_pgtables: a freed-tables
// flush of its own, as in Linux).
//
// Deviations: move_normal_pmd (x86 CONFIG_HAVE_MOVE_PMD: a whole 2 MiB
// aligned extent moves its PTE table with one flush) is not modelled —
// such extents move PTE by PTE; copy_vma never merges the new VMA with a
// neighbour (the model's mmap never merges either); VM_ACCOUNT/mlock
// accounting is not modelled; MREMAP_DONTUNMAP and old_len == 0 (duplicate
// a shared mapping) are rejected with EINVAL; the new VMA keeps its
// userfaultfd context (no UFFD_EVENT_REMAP); the shrink path unmaps under
// the write lock (v5.10 downgrades it).

const (
	mremapMaymove   = 1
	mremapFixed     = 2
	mremapDontunmap = 4

	latencyLimit = 64 * 4096 // LATENCY_LIMIT
	pmdSize      = uint64(1) << 21
)

// pageAlign is PAGE_ALIGN (0 on overflow).
func pageAlign(x uint64) uint64 { return (x + 0xfff) &^ 0xfff }

// sysMremap models SYSCALL_DEFINE5(mremap).
func (v *VCPU) sysMremap(addr, oldLen, newLen, flags, newAddr uint64) int64 {
	if flags&^uint64(mremapMaymove|mremapFixed|mremapDontunmap) != 0 {
		return -EINVAL
	}
	if flags&mremapFixed != 0 && flags&mremapMaymove == 0 {
		return -EINVAL
	}
	if flags&mremapDontunmap != 0 {
		return -EINVAL // not modelled (v5.10 accepts it for private anonymous VMAs)
	}
	if addr&0xfff != 0 {
		return -EINVAL
	}
	oldLen, newLen = pageAlign(oldLen), pageAlign(newLen)
	if newLen == 0 || oldLen == 0 {
		return -EINVAL
	}
	mm := v.curr.mm
	v.mmapWriteLock(mm)
	defer v.mmapWriteUnlock(mm)
	if flags&mremapFixed != 0 {
		return v.mremapTo(mm, addr, oldLen, newAddr, newLen)
	}
	// Always allow a shrinking remap: that just unmaps the unnecessary pages.
	if oldLen >= newLen {
		if oldLen != newLen {
			if e := v.doMunmap(mm, addr+newLen, oldLen-newLen); e != 0 {
				return e
			}
		}
		return int64(addr)
	}
	vma, e := mm.vmaToResize(addr, oldLen, newLen)
	if e != 0 {
		return e
	}
	if oldLen == vma.end-addr && mm.vmaExpandable(vma, newLen-oldLen) {
		v.vmaStartWrite(mm, vma)
		vma.end = addr + newLen // vma_adjust
		return int64(addr)
	}
	if flags&mremapMaymove == 0 {
		return -ENOMEM
	}
	na := mm.getUnmappedArea(newLen)
	if na == 0 {
		return -ENOMEM
	}
	return v.moveVMA(mm, vma, addr, oldLen, newLen, na)
}

// doMunmap models do_munmap's checks and unmap with mmap_lock held for
// write.
func (v *VCPU) doMunmap(mm *MM, start, length uint64) int64 {
	if start&0xfff != 0 || start > taskSize || length > taskSize-start {
		return -EINVAL
	}
	length = pageAlign(length)
	if length == 0 {
		return -EINVAL
	}
	v.doMunmapLocked(mm, start, start+length)
	return 0
}

// mremapTo models mremap_to (MREMAP_FIXED).
func (v *VCPU) mremapTo(mm *MM, addr, oldLen, newAddr, newLen uint64) int64 {
	if newAddr&0xfff != 0 {
		return -EINVAL
	}
	if newLen > taskSize || newAddr > taskSize-newLen {
		return -EINVAL
	}
	// Ensure the old/new locations do not overlap.
	if addr+oldLen > newAddr && newAddr+newLen > addr {
		return -EINVAL
	}
	if e := v.doMunmap(mm, newAddr, newLen); e != 0 {
		return e
	}
	if oldLen >= newLen {
		if e := v.doMunmap(mm, addr+newLen, oldLen-newLen); e != 0 && oldLen != newLen {
			return e
		}
		oldLen = newLen
	}
	vma, e := mm.vmaToResize(addr, oldLen, newLen)
	if e != 0 {
		return e
	}
	return v.moveVMA(mm, vma, addr, oldLen, newLen, newAddr)
}

// vmaToResize models vma_to_resize: the VMA holding [addr, addr+oldLen).
func (mm *MM) vmaToResize(addr, oldLen, newLen uint64) (*VMA, int64) {
	vma := mm.findVMA(addr)
	if vma == nil {
		return nil, -EFAULT
	}
	// We can't remap across vm area boundaries.
	if oldLen > vma.end-addr {
		return nil, -EFAULT
	}
	if newLen == oldLen {
		return vma, 0
	}
	if vma.file != nil {
		pgoff := vma.pgoff() + (addr-vma.start)>>12
		if pgoff+newLen>>12 < pgoff {
			return nil, -EINVAL
		}
	}
	if vma.flags&(VM_DONTEXPAND|VM_PFNMAP) != 0 {
		return nil, -EFAULT
	}
	return vma, 0
}

// vmaExpandable models vma_expandable: [vma.end, vma.end+delta) is free
// and below TASK_SIZE.
func (mm *MM) vmaExpandable(vma *VMA, delta uint64) bool {
	end := vma.end + delta
	if end < vma.end || end > taskSize {
		return false
	}
	i := mm.vmaIndex(vma)
	return i+1 >= len(mm.vmas) || mm.vmas[i+1].start >= end
}

// moveVMA models move_vma: a copy of vma for [newAddr, newAddr+newLen)
// (copy_vma, same file at the same file offset), the page tables of the
// old range moved into it, then the old range unmapped.
func (v *VCPU) moveVMA(mm *MM, vma *VMA, oldAddr, oldLen, newLen, newAddr uint64) int64 {
	if len(mm.vmas) >= sysctlMaxMapCount-3 {
		return -ENOMEM
	}
	v.vmaStartWrite(mm, vma) // the copy (copy_vma) is write-locked with it
	nv := *vma
	nv.start, nv.end = newAddr, newAddr+newLen
	if vma.file != nil {
		nv.fileBias = int64(vma.linearPageIndex(oldAddr)) - int64(newAddr>>12)
	}
	if vma.image != nil {
		nv.imageBias = int64(oldAddr>>12) + vma.imageBias - int64(newAddr>>12)
	}
	mm.insertVMA(&nv)
	moved := v.movePageTables(mm, vma, oldAddr, &nv, newAddr, oldLen)
	if moved < oldLen {
		// On error, move entries back from new area to old, which will
		// succeed since page tables are already there; then unmap the new.
		v.movePageTables(mm, &nv, newAddr, vma, oldAddr, moved)
		v.doMunmapLocked(mm, newAddr, newAddr+newLen)
		return -ENOMEM
	}
	v.doMunmapLocked(mm, oldAddr, oldAddr+oldLen)
	return int64(newAddr)
}

// movePageTables models move_page_tables (v5.10, without move_normal_pmd):
// per extent bounded by the PMD boundaries of both ranges and by
// LATENCY_LIMIT, move the PTEs. It returns how many bytes it got through.
func (v *VCPU) movePageTables(mm *MM, vma *VMA, oldAddr uint64, nv *VMA, newAddr, length uint64) uint64 {
	m := v.m
	oldEnd := oldAddr + length
	v.splitHugePMDRange(mm, oldAddr, oldEnd) // THP: split instead of move_huge_pmd
	var extent uint64
	for ; oldAddr < oldEnd; oldAddr, newAddr = oldAddr+extent, newAddr+extent {
		next := (oldAddr + pmdSize) &^ (pmdSize - 1)
		extent = next - oldAddr // even if next overflowed, extent is right
		if extent > oldEnd-oldAddr {
			extent = oldEnd - oldAddr
		}
		oldPTE, oldPT, ok := m.pteOffset(mm, oldAddr) // get_old_pmd
		if !ok {
			continue
		}
		newPTE, newPT, err := v.pteOffsetAlloc(mm, newAddr) // alloc_new_pmd + pte_alloc
		if err != nil {
			break
		}
		next = (newAddr + pmdSize) &^ (pmdSize - 1)
		extent = min(extent, next-newAddr, latencyLimit)
		v.movePTEs(mm, oldPTE, oldPT, oldAddr, oldAddr+extent, newPTE, newPT)
	}
	return length + oldAddr - oldEnd
}

// movePTEs models move_ptes (v5.10): under the old PTL and the new one
// (nested, if different), get-and-clear each old PTE and set it at the new
// address, marking present ones soft-dirty (move_soft_dirty_pte); if any
// moved PTE was present, flush_tlb_range(old range) before the PTLs drop,
// so no CPU keeps using the old translation once the locks are released
// (the race with page_mkclean that the flush closes).
func (v *VCPU) movePTEs(mm *MM, oldPTE phys.Addr, oldPT phys.PFN, oldAddr, oldEnd uint64, newPTE phys.Addr, newPT phys.PFN) {
	m := v.m
	oldPTL, newPTL := m.ptlOf(oldPT), m.ptlOf(newPT)
	v.spinLock(oldPTL)
	if newPTL != oldPTL {
		v.spinLock(newPTL) // spin_lock_nested(SINGLE_DEPTH_NESTING)
	}
	// flush_tlb_batched_pending: nothing batched (no reclaim in the model).
	force := false
	mm.movingPTEs++
	for i := phys.Addr(0); oldAddr+uint64(i)*4096 < oldEnd; i++ {
		os, ns := oldPTE+i*8, newPTE+i*8
		if pteNone(m.mem.LoadPTE(os)) {
			continue
		}
		e := m.mem.SwapPTE(os, 0) // ptep_get_and_clear
		if pteProtPresent(e) {
			force = true
			e = pteMkSoftDirty(e)
		}
		m.mem.StorePTE(ns, e) // set_pte_at (move_pte is the identity on x86)
		v.spend(m.cfg.Costs.PTEUpdate)
	}
	if force {
		v.flushTLBRange(mm, oldAddr, oldEnd)
	}
	mm.movingPTEs--
	if newPTL != oldPTL {
		v.spinUnlock(newPTL)
	}
	v.spinUnlock(oldPTL)
}

// pteMkSoftDirty is x86 pte_mksoft_dirty.
func pteMkSoftDirty(e uint64) uint64 { return e | tlb.PteSoftDirty }
