package kernelmodel

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// Fault flags (include/linux/mm.h FAULT_FLAG_*).
const (
	faultFlagWrite         = 1 << 0
	faultFlagAllowRetry    = 1 << 2
	faultFlagKillable      = 1 << 4
	faultFlagTried         = 1 << 5
	faultFlagUser          = 1 << 6
	faultFlagInterruptible = 1 << 9
	faultFlagVMALock       = 1 << 12 // the fault holds the VMA's lock, not mmap_lock (vma_lock.go)
	faultFlagDefault       = faultFlagAllowRetry | faultFlagKillable | faultFlagInterruptible
)

// vm_fault_t bits.
const (
	vmFaultOOM     = 0x0001
	vmFaultSIGBUS  = 0x0002
	vmFaultWrite   = 0x0008
	vmFaultSIGSEGV = 0x0040
	vmFaultRetry   = 0x0400
	vmFaultError   = vmFaultOOM | vmFaultSIGBUS | vmFaultSIGSEGV
)

// vmFault is struct vm_fault.
type vmFault struct {
	vma     *VMA
	mm      *MM
	address uint64 // page aligned
	flags   int
	pte     phys.Addr // PTE slot
	pt      phys.PFN  // frame of the PTE table
	ptl     *spinlock
	origPTE uint64
}

// doUserAddrFault models x86 do_user_addr_fault for a user-mode #PF: with
// PatchPerVMALock first under the VMA's lock (faultUnderVMALock), else,
// or when that gives up, take mmap_lock for read, find the VMA, check
// access, call handle_mm_fault and retry on VM_FAULT_RETRY; a fault it
// cannot resolve is a SIGSEGV/SIGBUS.
func (v *VCPU) doUserAddrFault(addr tlb.VirtAddr, errCode uint32) {
	m := v.m
	start := v.c.Clock
	v.spend(m.cfg.Costs.FaultEntryExit / 2)
	t := v.curr
	mm := t.mm
	flags := faultFlagDefault | faultFlagUser
	if errCode&tlb.PFErrWrite != 0 {
		flags |= faultFlagWrite
	}
	res := vmaFaultFallback
	if m.on.perVMALock {
		if res, flags = v.faultUnderVMALock(mm, uint64(addr), errCode, flags); res == vmaFaultStop {
			return
		}
	}
	for res == vmaFaultFallback {
		v.mmapReadLock(mm)
		vma := mm.findVMA(uint64(addr))
		if vma == nil || accessError(errCode, vma) {
			v.mmapReadUnlock(mm)
			v.forceSig(SIGSEGV, uint64(addr), "segfault")
			return
		}
		ret := v.handleMMFault(vma, uint64(addr), flags)
		if ret&vmFaultRetry != 0 {
			// handle_userfault dropped mmap_lock; the task slept and was
			// woken: retry once with FAULT_FLAG_TRIED.
			flags |= faultFlagTried
			if v.curr != t || t.state != taskRunning {
				return // blocked: resumes at the faulting instruction when woken
			}
			continue
		}
		v.mmapReadUnlock(mm)
		if v.faultSignal(ret, uint64(addr)) {
			return
		}
		break
	}
	v.spend(m.cfg.Costs.FaultEntryExit - m.cfg.Costs.FaultEntryExit/2)
	m.faultCycles[log2Bucket(v.c.Clock-start)]++
	v.trace("fault", "page_fault_user", start, "address", int64(addr), "error_code", int64(errCode))
}

// faultSignal sends the signal a failed fault raises (mm_fault_error):
// SIGBUS, SIGKILL for VM_FAULT_OOM, else SIGSEGV. It reports whether it
// sent one.
func (v *VCPU) faultSignal(ret int, addr uint64) bool {
	if ret&vmFaultError == 0 {
		return false
	}
	if ret&vmFaultSIGBUS != 0 {
		v.forceSig(SIGBUS, addr, "bus error")
	} else if ret&vmFaultOOM != 0 {
		v.forceSig(SIGKILL, addr, "out of memory")
	} else {
		v.forceSig(SIGSEGV, addr, "segfault")
	}
	return true
}

// accessError models access_error for a user fault.
func accessError(errCode uint32, vma *VMA) bool {
	if errCode&tlb.PFErrWrite != 0 {
		return vma.flags&VM_WRITE == 0
	}
	if errCode&tlb.PFErrPresent != 0 && errCode&tlb.PFErrInstr == 0 {
		return true // read of a present page that faulted: protection keys only
	}
	if errCode&tlb.PFErrInstr != 0 {
		return vma.flags&VM_EXEC == 0
	}
	return vma.flags&(VM_READ|VM_WRITE|VM_EXEC) == 0
}

// handleMMFault models handle_mm_fault → __handle_mm_fault (4 KiB pages).
func (v *VCPU) handleMMFault(vma *VMA, address uint64, flags int) int {
	m := v.m
	m.pgfault++ // count_vm_event(PGFAULT)
	v.spend(m.cfg.Costs.HandleMMFault)
	mm := v.curr.mm
	if m.cfg.THP {
		if ret := v.handleHugePMD(vma, address, flags); ret != vmFaultFallback {
			return ret
		}
	}
	pte, pt, err := v.pteOffsetAlloc(mm, address)
	if err != nil {
		return vmFaultOOM
	}
	vmf := &vmFault{vma: vma, mm: mm, address: address &^ 0xfff, flags: flags, pte: pte, pt: pt, ptl: m.ptlOf(pt)}
	return v.handlePTEFault(vmf)
}

// handlePTEFault models handle_pte_fault (mm/memory.c, v5.10), with Yu
// Zhao's proposed flush when PatchPTEFaultFlushPending is on.
func (v *VCPU) handlePTEFault(vmf *vmFault) int {
	m := v.m
	vmf.origPTE = m.mem.LoadPTE(vmf.pte) // lockless snapshot
	if pteNone(vmf.origPTE) {
		if vmf.vma.anon {
			return v.doAnonymousPage(vmf)
		}
		return v.doFault(vmf) // filemap.go
	}
	if !ptePresent(vmf.origPTE) {
		return vmFaultSIGBUS // swap entries are not modelled
	}
	v.spinLock(vmf.ptl)
	entry := vmf.origPTE
	if m.mem.LoadPTE(vmf.pte) != vmf.origPTE {
		v.spinUnlock(vmf.ptl) // raced with someone: update_mmu_tlb is a no-op on x86
		return 0
	}
	if vmf.flags&faultFlagWrite != 0 {
		if !pteWrite(entry) {
			if m.on.pteFaultFlushPending && vmf.mm.tlbFlushPending != 0 {
				// The proposal: flush while still holding the PTL.
				m.flushPendingFlushes++
				v.flushTLBPage(vmf.mm, vmf.address)
			}
			return v.doWPPage(vmf)
		}
		entry = pteMkdirty(entry)
	}
	entry = pteMkyoung(entry)
	// When nothing changed, the generic code would call
	// flush_tlb_fix_spurious_fault; it is empty on x86: the #PF itself
	// dropped the stale entry (SDM 4.10.4.1).
	v.ptepSetAccessFlags(vmf, entry, vmf.flags&faultFlagWrite != 0)
	v.spinUnlock(vmf.ptl)
	return 0
}

// ptepSetAccessFlags models x86 ptep_set_access_flags: store the entry only if
// it changed and the access was a write; never flush.
func (v *VCPU) ptepSetAccessFlags(vmf *vmFault, entry uint64, dirty bool) bool {
	changed := v.m.mem.LoadPTE(vmf.pte) != entry
	if changed && dirty {
		v.m.mem.StorePTE(vmf.pte, entry)
	}
	return changed
}

// doAnonymousPage models do_anonymous_page (v5.10).
func (v *VCPU) doAnonymousPage(vmf *vmFault) int {
	m := v.m
	vma := vmf.vma
	if vma.flags&VM_SHARED != 0 {
		return vmFaultSIGBUS
	}
	m.anonFaults++
	if vma.image != nil {
		return v.refaultImage(vmf)
	}
	if vmf.flags&faultFlagWrite == 0 {
		// Map the shared zero page read-only.
		entry := mkPTE(m.zeroPage, (vmPageProt(vma.flags)&^tlb.PteRW)|tlb.PteSpecial)
		v.spinLock(vmf.ptl)
		if !pteNone(m.mem.LoadPTE(vmf.pte)) {
			v.spinUnlock(vmf.ptl)
			return 0
		}
		if vma.flags&VM_UFFD_MISSING != 0 {
			v.spinUnlock(vmf.ptl)
			return v.handleUserfault(vmf, VM_UFFD_MISSING)
		}
		m.mem.StorePTE(vmf.pte, entry)
		v.c.Clock += m.cfg.Costs.PTESet
		v.spinUnlock(vmf.ptl)
		return 0
	}
	page, err := m.allocPage() // alloc_zeroed_user_highpage_movable: refcount 1
	if err != nil {
		return vmFaultOOM
	}
	v.spend(m.cfg.Costs.AllocPage + m.cfg.Costs.ZeroPage)
	entry := mkPTE(page, vmPageProt(vma.flags))
	if vma.flags&VM_WRITE != 0 {
		entry = pteMkwrite(pteMkdirty(entry))
	}
	return v.setNewAnonPTE(vmf, page, pteMkyoung(entry), vma.flags&VM_UFFD_MISSING != 0)
}

// setNewAnonPTE installs a freshly allocated private page under the PTE
// lock, as the tail of do_anonymous_page does: if the slot was filled
// meanwhile the page is dropped; with uffdMissing the fault goes to
// userfaultfd instead; otherwise page_add_new_anon_rmap, lru_cache_add and
// set_pte_at (no flush: the slot was empty).
func (v *VCPU) setNewAnonPTE(vmf *vmFault, page phys.PFN, entry uint64, uffdMissing bool) int {
	m := v.m
	v.spinLock(vmf.ptl)
	if !pteNone(m.mem.LoadPTE(vmf.pte)) {
		v.spinUnlock(vmf.ptl)
		m.putPage(page)
		return 0
	}
	if uffdMissing {
		v.spinUnlock(vmf.ptl)
		m.putPage(page)
		return v.handleUserfault(vmf, VM_UFFD_MISSING)
	}
	vmf.vma.anonVMA = true // anon_vma_prepare, before the page is allocated
	m.pageAddNewAnonRmap(page)
	v.lruCacheAdd(page)
	m.mem.StorePTE(vmf.pte, entry)
	v.c.Clock += m.cfg.Costs.PTESet
	v.spinUnlock(vmf.ptl)
	return 0
}

// refaultImage faults in a page of an ELF segment's VMA that is no longer
// mapped (MADV_DONTNEED, or a hole after munmap and MAP_FIXED was not
// used): on Linux the segment is a private file mapping and the page comes
// back from the file (do_read_fault maps the page-cache page read-only,
// do_cow_fault copies it for a write). The model has no page cache for
// executables, so it allocates a private page filled from the segment's
// image, mapped read-only for a read fault (the next store takes a
// write-protect fault, as it would on the page-cache page) and writable
// for a write. Charged as an allocation plus a page copy.
func (v *VCPU) refaultImage(vmf *vmFault) int {
	m := v.m
	vma := vmf.vma
	page, err := m.allocPage()
	if err != nil {
		return vmFaultOOM
	}
	v.spend(m.cfg.Costs.AllocPage + m.cfg.Costs.CopyPage)
	va := uint64(int64(vmf.address>>12)+vma.imageBias) << 12
	vma.image.fill(m.mem.Frame(page)[:], va)
	prot := vmPageProt(vma.flags)
	entry := mkPTE(page, prot&^tlb.PteRW)
	if vmf.flags&faultFlagWrite != 0 && vma.flags&VM_WRITE != 0 {
		entry = pteMkwrite(pteMkdirty(mkPTE(page, prot)))
	}
	return v.setNewAnonPTE(vmf, page, pteMkyoung(entry), false)
}

// doWPPage models do_wp_page (v5.10 = 09854ba94c6a + be068f29034f), entered
// with the PTL held.
func (v *VCPU) doWPPage(vmf *vmFault) int {
	m := v.m
	vma := vmf.vma
	if vma.flags&VM_UFFD_WP != 0 && pteUffdWP(vmf.origPTE) {
		v.spinUnlock(vmf.ptl)
		return v.handleUserfault(vmf, VM_UFFD_WP)
	}
	if m.on.uffdWPFlushPending && vma.flags&VM_UFFD_WP != 0 && vmf.mm.tlbFlushPending != 0 {
		// 6ce64428d620: uffd-wp can defer flushes; flush before copying.
		m.flushPendingFlushes++
		v.flushTLBPage(vmf.mm, vmf.address)
	}
	pfn := ptePFN(vmf.origPTE)
	if pfn == m.zeroPage || vmf.origPTE&tlb.PteSpecial != 0 {
		// vm_normal_page returns NULL: COW of the zero page.
		if vma.flags&(VM_WRITE|VM_SHARED) == VM_WRITE|VM_SHARED {
			return v.wpPfnShared(vmf)
		}
		v.spinUnlock(vmf.ptl)
		return v.wpPageCopy(vmf, 0)
	}
	pg := &m.pages[pfn]
	if pg.anon && m.on.anonExclusive {
		// v6.18: reuse if PageAnonExclusive, else if
		// wp_can_reuse_anon_folio: no more than 3 references; a page
		// not yet on the LRU may be held by this CPU's pagevec, so
		// lru_add_drain first; then the mapping's reference only, and
		// the folio trylock.
		reuse := pg.exclusive
		if !reuse && pg.refcount <= 3 {
			if !pg.lru {
				v.lruAddDrain()
			}
			reuse = pg.refcount == 1 && !pg.locked
		}
		if !reuse {
			if pg.mapcount == 1 {
				m.wpCopyPageCount++
			}
			m.getPage(pfn)
			v.spinUnlock(vmf.ptl)
			return v.wpPageCopy(vmf, pfn)
		}
		pg.exclusive = true // SetPageAnonExclusive
		v.wpPageReuse(vmf)
		return vmFaultWrite
	}
	if pg.anon {
		if pg.refcount != 1 || pg.locked || pg.mapcount != 1 {
			if pg.mapcount == 1 {
				m.wpCopyPageCount++
			}
			m.getPage(pfn)
			v.spinUnlock(vmf.ptl)
			return v.wpPageCopy(vmf, pfn)
		}
		v.wpPageReuse(vmf)
		return vmFaultWrite
	}
	if vma.flags&(VM_WRITE|VM_SHARED) == VM_WRITE|VM_SHARED {
		return v.wpPageShared(vmf, pfn) // filemap.go
	}
	m.getPage(pfn)
	v.spinUnlock(vmf.ptl)
	return v.wpPageCopy(vmf, pfn)
}

// wpPageReuse models wp_page_reuse: make the PTE writable and dirty without
// a flush (a permission promotion), then drop the PTL.
func (v *VCPU) wpPageReuse(vmf *vmFault) {
	m := v.m
	entry := pteMkyoung(pteMkdirty(vmf.origPTE))
	if vmf.vma.flags&VM_WRITE != 0 {
		entry = pteMkwrite(entry)
	}
	v.ptepSetAccessFlags(vmf, entry, true)
	v.spinUnlock(vmf.ptl)
	m.wpReuse++
}

// wpPageCopy models wp_page_copy (v5.10), entered without the PTL and with a
// reference on old (0 for the zero page). The copy runs before the flush in
// ptep_clear_flush: the window in which a stale writable TLB entry elsewhere
// loses writes (mm/memory.c wp_page_copy, v5.10; the lost write of
// 6ce64428d620's message).
func (v *VCPU) wpPageCopy(vmf *vmFault, old phys.PFN) int {
	m := v.m
	newp, err := m.allocPage()
	if err != nil {
		if old != 0 {
			m.putPage(old)
		}
		return vmFaultOOM
	}
	v.spend(m.cfg.Costs.AllocPage)
	if old == 0 {
		v.spend(m.cfg.Costs.ZeroPage)
	} else {
		// cow_user_page: the copy is a snapshot of old; stores that reach
		// old after this point are lost once the new page is installed.
		m.pages[old].copying++
		m.pages[old].copies++
		*m.mem.Frame(newp) = *m.mem.Frame(old)
		v.spend(m.cfg.Costs.CopyPage)
	}
	v.spinLock(vmf.ptl)
	copied := false
	toPut := newp
	if m.mem.LoadPTE(vmf.pte) == vmf.origPTE {
		entry := pteMkyoung(pteMkdirty(mkPTE(newp, vmPageProt(vmf.vma.flags))))
		if vmf.vma.flags&VM_WRITE != 0 {
			entry = pteMkwrite(entry)
		}
		// ptep_clear_flush_notify: clear, flush if accessible, notify.
		oldPTE := m.mem.SwapPTE(vmf.pte, 0)
		if ptePresent(oldPTE) {
			v.flushTLBPage(vmf.mm, vmf.address)
		}
		vmf.vma.anonVMA = true // wp_page_copy: anon_vma_prepare
		m.pageAddNewAnonRmap(newp)
		v.lruCacheAdd(newp)
		m.mem.StorePTE(vmf.pte, entry) // set_pte_at_notify
		if old != 0 {
			m.pages[old].mapcount-- // page_remove_rmap
			toPut = old
		} else {
			toPut = 0
		}
		copied = true
		m.wpCopy++
	}
	if toPut != 0 {
		m.putPage(toPut)
	}
	v.spinUnlock(vmf.ptl)
	if old != 0 {
		m.pages[old].copying--
		m.putPage(old) // drop do_wp_page's reference
	}
	if copied {
		return vmFaultWrite
	}
	return 0
}
