package kernelmodel

import (
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
// form (kernel-spec §3.2) takes mmap_lock for read, juggling to the write
// lock only to clear VM_SOFTDIRTY, and uses an mmu_gather that batches
// nothing, so tlb_finish_mmu performs no flush (§3.3).
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
	writeLock := m.cfg.Has(PatchClearRefsMmapWriteLock)
	flushFix := m.cfg.Has(PatchClearRefsFlush)
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
				vma.flags &^= VM_SOFTDIRTY // vma_set_page_prot: no PTE effect for anon
			}
		}
		if any && !writeLock {
			v.mmapWriteDowngrade(mm)
		}
		if flushFix {
			mm.tlbFlushPending++ // inc_tlb_flush_pending
		}
	}
	for _, vma := range mm.vmas {
		// clear_refs_test_walk: type 2 skips file-backed VMAs, type 3
		// anonymous ones.
		if typ == clearRefsMapped && !vmaFileBacked(vma) || typ == clearRefsAnon && vmaFileBacked(vma) {
			continue
		}
		v.clearRefsPTERange(mm, vma, typ)
	}
	if typ == clearRefsSoftDirty && flushFix {
		v.flushTLBMM(mm)
		mm.tlbFlushPending-- // dec_tlb_flush_pending
	}
	if gather != nil {
		v.tlbFinishMMU(gather)
	}
	mm.revokeOps--
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
