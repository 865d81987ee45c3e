package kernelmodel

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// procNumBuf is PROC_NUMBUF, the size of clear_refs_write's buffer.
const procNumBuf = 13

// clear_refs types (fs/proc/task_mmu.c enum clear_refs_types).
const (
	clearRefsAll          = 1
	clearRefsAnon         = 2
	clearRefsMapped       = 3
	clearRefsSoftDirty    = 4
	clearRefsMMHiwaterRSS = 5
)

// clearRefsWrite models clear_refs_write (fs/proc/task_mmu.c). The v5.10.0
// form (the removed lines of 29a951dfb3c3's 5.10-stable backport, "[PATCH
// 5.10 109/152] mm: fix clear_refs_write locking") takes mmap_lock for read,
// juggling to the write lock only to clear VM_SOFTDIRTY, and uses an
// mmu_gather that batches nothing, so tlb_finish_mmu (mm/mmu_gather.c,
// v5.10: tlb_flush_mmu_tlbonly returns early since 0758cd830494) performs no
// flush.
// PatchClearRefsMmapWriteLock (29a951dfb3c3) takes the write lock for the
// whole operation; PatchClearRefsFlush (912efa17e512) replaces the gather
// with inc_tlb_flush_pending … flush_tlb_mm … dec_tlb_flush_pending.
func (v *VCPU) clearRefsWrite(buf []byte) int64 {
	m := v.m
	if len(buf) > procNumBuf-1 {
		buf = buf[:procNumBuf-1] // only the first 12 bytes are read, and counted
	}
	s := strings.TrimSpace(string(buf))
	typ, err := strconv.Atoi(s)
	if err != nil {
		return -EINVAL
	}
	if typ < clearRefsAll || typ > clearRefsMMHiwaterRSS {
		return -EINVAL
	}
	mm := v.curr.mm
	if typ == clearRefsSoftDirty {
		v.endSoftDirtyInterval(mm) // the interval since the previous "4" ends here
	}
	writeLock := m.on.clearRefsMmapWriteLock
	flushFix := m.on.clearRefsFlush
	if typ == clearRefsMMHiwaterRSS || writeLock {
		v.mmapWriteLock(mm)
		if typ == clearRefsMMHiwaterRSS {
			v.mmapWriteUnlock(mm)
			return int64(len(buf))
		}
	} else {
		v.mmapReadLock(mm)
	}
	mm.revokeOps++
	var gather *mmuGather
	if !flushFix {
		gather = v.tlbGatherMMU(mm, 0, ^uint64(0))
	}
	if typ == clearRefsSoftDirty {
		any := false
		for _, vma := range mm.vmas {
			if vma.flags&VM_SOFTDIRTY != 0 {
				any = true
			}
		}
		if any && !writeLock {
			v.mmapReadUnlock(mm)
			v.mmapWriteLock(mm)
		}
		if any || writeLock {
			for _, vma := range mm.vmas {
				if vma.flags&VM_SOFTDIRTY != 0 {
					v.vmaStartWrite(mm, vma) // vm_flags_clear (v6.18)
				}
				vma.flags &^= VM_SOFTDIRTY // vma_set_page_prot: no PTE effect for anon
			}
		}
		if any && !writeLock {
			v.mmapWriteDowngrade(mm)
		}
		if flushFix {
			mm.tlbFlushPending++ // inc_tlb_flush_pending
			v.traceFlushPending(mm)
		}
	}
	for _, vma := range mm.vmas {
		// clear_refs_test_walk: type 2 skips file-backed VMAs, type 3
		// anonymous ones.
		if typ == clearRefsMapped && !vmaFileBacked(vma) || typ == clearRefsAnon && vmaFileBacked(vma) {
			continue
		}
		if writeLock {
			// clear_refs_walk_ops.walk_lock = PGWALK_WRLOCK (fs/proc/task_mmu.c,
			// v6.18): walk_page_range write-locks each VMA it walks, so
			// faults under the VMA lock wait for clear_refs as under
			// mmap_lock.
			v.vmaStartWrite(mm, vma)
		}
		v.clearRefsPTERange(mm, vma, typ)
	}
	if typ == clearRefsSoftDirty && flushFix {
		v.flushTLBMM(mm)
		mm.tlbFlushPending-- // dec_tlb_flush_pending
		v.traceFlushPending(mm)
	}
	if gather != nil {
		v.tlbFinishMMU(gather)
	}
	mm.revokeOps--
	if typ == clearRefsSoftDirty {
		v.beginSoftDirtyInterval(mm)
	}
	if writeLock {
		v.mmapWriteUnlock(mm)
	} else {
		v.mmapReadUnlock(mm)
	}
	return int64(len(buf))
}

// clearRefsPTERange models clear_refs_pte_range for 4 KiB PTEs, one PTE
// table at a time under its split lock.
func (v *VCPU) clearRefsPTERange(mm *MM, vma *VMA, typ int) {
	m := v.m
	for addr := vma.start; addr < vma.end; {
		if v.clearRefsHugePMD(mm, addr, typ) {
			addr = regionEnd(addr, 21, vma.end)
			continue
		}
		pte, pt, next, ok := m.pteTable(mm, addr, vma.end) // skips missing upper levels
		if !ok {
			addr = next
			continue
		}
		ptl := m.ptlOf(pt)
		v.spinLock(ptl)
		for a := addr; a < next; a += 4096 {
			slot := pte + phys.Addr(((a-addr)>>12)*8)
			e := m.mem.LoadPTE(slot)
			if !pteProtPresent(e) { // pte_present: PROT_NONE entries too
				continue
			}
			if typ == clearRefsSoftDirty {
				// clear_soft_dirty: ptep_modify_prot_start (xchg with 0),
				// wrprotect and clear soft-dirty keeping hardware D,
				// ptep_modify_prot_commit. No tlb_remove_tlb_entry.
				old := m.mem.SwapPTE(slot, 0)
				m.mem.StorePTE(slot, old&^(tlb.PteRW|tlb.PteSoftDirty))
			} else {
				// vm_normal_page: the zero page has no struct page to age.
				if !vmNormalPage(m, e) {
					continue
				}
				// ptep_test_and_clear_young without a flush
				m.mem.StorePTE(slot, e&^tlb.PteA)
			}
			v.spend(m.cfg.Costs.PTEUpdate)
		}
		v.spinUnlock(ptl)
		addr = next
	}
}

// sdInterval is one open soft-dirty tracking interval of an mm: from the
// return of a write(clear_refs, "4") to the next such write or the mm's
// exit. written holds the pages stored to through a stale entry while the
// PTE was not soft-dirty (the stores emu_lost_soft_dirty counts), with true
// when a task other than the clearer stored to the page.
type sdInterval struct {
	clearer *Task
	written map[uint64]bool
}

// noteSoftDirtyStore records a store to va that left no soft-dirty mark in
// mm's open interval, if any.
func (v *VCPU) noteSoftDirtyStore(mm *MM, va uint64) {
	if mm == nil {
		return
	}
	iv := v.m.sdIntervals[mm]
	if iv == nil {
		return
	}
	page := va &^ 4095
	iv.written[page] = iv.written[page] || v.curr != iv.clearer
}

// beginSoftDirtyInterval opens mm's interval after a clear_refs "4" write by
// the current task.
func (v *VCPU) beginSoftDirtyInterval(mm *MM) {
	v.m.sdIntervals[mm] = &sdInterval{clearer: v.curr, written: map[uint64]bool{}}
}

// endSoftDirtyInterval closes mm's open interval (at the next clear_refs
// "4" write and at exit_mmap): every page written during it whose pagemap
// entry is present without PM_SOFT_DIRTY is one lost (page, interval) pair,
// counted in emu_lost_soft_dirty_pages, or in
// emu_lost_soft_dirty_pages_clearer when only the clearing task stored to
// it. The entry is read as pagemap_read would (pagemap_pmd_range,
// pte_to_pagemap_entry, fs/proc/task_mmu.c at v5.10): pte_soft_dirty of the
// PTE, pmd_soft_dirty of a huge PMD, or VM_SOFTDIRTY of the VMA. A page no
// longer mapped is not counted: pagemap shows a hole, which a checkpoint
// restores as such.
func (v *VCPU) endSoftDirtyInterval(mm *MM) {
	m := v.m
	iv := m.sdIntervals[mm]
	if iv == nil {
		return
	}
	delete(m.sdIntervals, mm)
	for page, byOthers := range iv.written {
		if m.pagemapSoftDirtyAt(mm, page) {
			continue
		}
		if byOthers {
			m.lostSoftDirtyPages++
		} else {
			m.lostSoftDirtyClearer++
		}
	}
}

// checkSoftDirtyRead checks lost tracking where the guest sees it, as CRIU
// does (its pre-dump reads /proc/PID/pagemap before the next clear_refs):
// every page of mm's open interval in [start, end) that was stored to and
// whose entry in chunk (the pagemap_read output for start..end) is present
// without PM_SOFT_DIRTY is one lost (page, interval) pair. A page read is
// checked once: it leaves the interval's set, and only a later store puts it
// back, so the check at the interval's end does not count it again.
func (m *Machine) checkSoftDirtyRead(mm *MM, start, end uint64, chunk []byte) {
	iv := m.sdIntervals[mm]
	if iv == nil {
		return
	}
	for page, byOthers := range iv.written {
		if page < start || page >= end {
			continue
		}
		delete(iv.written, page)
		e := binary.LittleEndian.Uint64(chunk[(page-start)>>12*8:])
		if e&pmPresent == 0 || e&pmSoftDirty != 0 {
			continue
		}
		if byOthers {
			m.lostSoftDirtyPages++
		} else {
			m.lostSoftDirtyClearer++
		}
	}
}

// pagemapSoftDirtyAt reports whether addr's pagemap entry is present and
// soft-dirty; an address without a present entry reports true (nothing to
// lose).
func (m *Machine) pagemapSoftDirtyAt(mm *MM, addr uint64) bool {
	vma := mm.findVMA(addr)
	if vma == nil {
		return true
	}
	slot, ok := m.pmdSlot(mm, addr)
	if !ok {
		return true
	}
	pmd := m.mem.LoadPTE(slot)
	var ent uint64
	switch {
	case pmdTransHuge(pmd):
		ent = m.pagemapEntry(vma, pmd, true, (addr>>12)&511)
	case pmd&tlb.PteP == 0:
		return true
	default:
		e := m.mem.LoadPTE(ptePFN(pmd).Addr() + phys.Addr(tlb.VirtAddr(addr).Index(1)*8))
		ent = m.pagemapEntry(vma, e, false, 0)
	}
	return ent&pmPresent == 0 || ent&pmSoftDirty != 0
}
