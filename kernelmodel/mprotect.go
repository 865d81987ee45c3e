package kernelmodel

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// EACCES is the errno of a protection the mapping may not get.
const EACCES = 13

// mprotect-only prot bits (include/uapi/asm-generic/mman-common.h).
const (
	protSem       = 0x8
	protGrowsdown = 0x01000000
	protGrowsup   = 0x02000000
)

// change_protection cp_flags (include/linux/mm.h, v5.10).
const (
	mmCPDirtyAcct     = 1 << 0
	mmCPProtNUMA      = 1 << 1
	mmCPUffdWP        = 1 << 2
	mmCPUffdWPResolve = 1 << 3
	// mmCPTryChangeWritable is v6.0's MM_CP_TRY_CHANGE_WRITABLE
	// (64fe24a3e05e; bit 0 there, after MM_CP_DIRTY_ACCT went away).
	mmCPTryChangeWritable = 1 << 4
)

// pteProtNone is x86's _PAGE_PROTNONE: the global bit, meaningful only while
// _PAGE_PRESENT is clear (arch/x86/include/asm/pgtable_types.h).
const pteProtNone = tlb.PteG

// pteChgMask is x86's _PAGE_CHG_MASK: the bits pte_modify keeps.
const pteChgMask = tlb.PteAddrMask | tlb.PtePCD | tlb.PtePWT | tlb.PteSpecial | tlb.PteA | tlb.PteD | tlb.PteSoftDirty | tlb.PteUffdWP

// pteProtPresent models x86 pte_present, which is also true for PROT_NONE
// entries (_PAGE_PROTNONE without _PAGE_PRESENT).
func pteProtPresent(e uint64) bool { return e&(tlb.PteP|pteProtNone) != 0 }

// vmGetPageProt models vm_get_page_prot (protection_map on x86-64): as
// vmPageProt, but a VMA with no access maps to PAGE_NONE (_PAGE_PROTNONE)
// so that its PTEs keep their frame while not present.
func vmGetPageProt(flags uint64) uint64 {
	if flags&vmAccessFlags == 0 {
		return pteProtNone | tlb.PteA // PAGE_NONE
	}
	return vmPageProt(flags)
}

// pteModify models x86 pte_modify: keep the _PAGE_CHG_MASK bits of e, take
// the rest from newprot.
func pteModify(e, newprot uint64) uint64 { return e&pteChgMask | newprot&^pteChgMask }

// calcVMProtBits models calc_vm_prot_bits (no protection keys).
func calcVMProtBits(prot uint64) uint64 { return protToVMFlags(prot) }

// sysMprotect models do_mprotect_pkey (mm/mprotect.c, v5.10) with pkey -1:
// argument checks, mmap_write_lock, then mprotect_fixup on every VMA of
// [start, start+len); a hole in the range ends the walk with -ENOMEM after
// the VMAs before it were changed, as in Linux.
func (v *VCPU) sysMprotect(start, length, prot uint64) int64 {
	grows := prot & (protGrowsdown | protGrowsup)
	prot &^= protGrowsdown | protGrowsup
	if grows == protGrowsdown|protGrowsup {
		return -EINVAL
	}
	if start&0xfff != 0 {
		return -EINVAL
	}
	if length == 0 {
		return 0
	}
	length = (length + 0xfff) &^ 0xfff
	end := start + length
	if end <= start {
		return -ENOMEM
	}
	if prot&^uint64(protRead|protWrite|protExec|protSem) != 0 { // arch_validate_prot
		return -EINVAL
	}
	mm := v.curr.mm
	v.mmapWriteLock(mm)
	defer v.mmapWriteUnlock(mm)
	vma := mm.findVMAAbove(start)
	if vma == nil {
		return -ENOMEM
	}
	if grows&protGrowsdown != 0 {
		if vma.start >= end {
			return -ENOMEM
		}
		start = vma.start
		if vma.flags&VM_GROWSDOWN == 0 {
			return -EINVAL
		}
	} else {
		if vma.start > start {
			return -ENOMEM
		}
		if grows&protGrowsup != 0 {
			return -EINVAL // VM_GROWSUP is VM_NONE on x86
		}
	}
	for nstart := start; ; {
		newflags := calcVMProtBits(prot) | vma.flags&^vmAccessFlags
		// newflags >> 4 shifts VM_MAY* in place of VM_*.
		if newflags&^(newflags>>4)&vmAccessFlags != 0 {
			return -EACCES
		}
		tmp := min(vma.end, end)
		cur, err := v.mprotectFixup(vma, nstart, tmp, newflags)
		if err != 0 {
			return err
		}
		nstart = max(tmp, cur.end)
		if nstart >= end {
			return 0
		}
		vma = mm.findVMAAbove(nstart)
		if vma == nil || vma.start != nstart {
			return -ENOMEM
		}
	}
}

// mprotectFixup models mprotect_fixup (v5.10): merge or split so that
// [start, end) is one VMA, set its vm_flags, and change_protection with the
// new vm_page_prot. Private anonymous memory keeps read-only PTEs after
// PROT_WRITE (vm_page_prot is the COW protection), so the first store to
// each page takes do_wp_page. It returns the VMA covering [start, end).
//
// Preconditions:
//   - mmap_lock held for write; [start, end) inside vma.
func (v *VCPU) mprotectFixup(vma *VMA, start, end, newflags uint64) (*VMA, int64) {
	if newflags == vma.flags {
		return vma, 0
	}
	if newflags&VM_WRITE != 0 && vma.flags&(VM_ACCOUNT|VM_WRITE|VM_HUGETLB|VM_SHARED|VM_NORESERVE) == 0 {
		newflags |= VM_ACCOUNT // the commit charge (security_vm_enough_memory_mm) always succeeds here
	}
	vma, err := v.vmaModifyCharged(v.curr.mm, vma, start, end, newflags, vma.uffd)
	if err != 0 {
		return nil, err
	}
	vma.flags = newflags
	// vma_wants_writenotify is false for every modelled VMA (no shared
	// writable file mapping can be faulted), so no MM_CP_DIRTY_ACCT.
	cp := 0
	if v.m.on.mprotectWritable && newflags&(VM_WRITE|VM_SHARED) == VM_WRITE {
		// vma_wants_manual_pte_write_upgrade: a writable private VMA
		// (a shared one would need vma_wants_writenotify, false here).
		cp |= mmCPTryChangeWritable
	}
	v.changeProtection(v.curr.mm, vma, start, end, vmGetPageProt(newflags), cp)
	return vma, 0
}

// canChangePTEWritable models can_change_pte_writable (mm/mprotect.c,
// v6.18) for a private VMA: not PROT_NONE, no soft-dirty tracking that
// needs the write fault (VM_SOFTDIRTY clear and the PTE not soft-dirty),
// no uffd-wp marker, and an exclusive anonymous page.
func (m *Machine) canChangePTEWritable(vma *VMA, e uint64) bool {
	if vma.flags&VM_WRITE == 0 || e&tlb.PteP == 0 {
		return false
	}
	if vma.flags&VM_SOFTDIRTY == 0 && e&tlb.PteSoftDirty == 0 {
		return false // pte_needs_soft_dirty_wp
	}
	if vma.flags&VM_UFFD_WP != 0 && pteUffdWP(e) {
		return false // userfaultfd_pte_wp
	}
	if !vmNormalPage(m, e) {
		return false
	}
	pg := &m.pages[ptePFN(e)]
	return pg.anon && pg.exclusive
}

// changeProtection models change_protection → change_protection_range
// (mm/mprotect.c, v5.10): raise tlb_flush_pending, rewrite every present
// PTE of [start, end) one page table at a time under its split lock
// (change_pte_range), flush_tlb_range if any PTE changed, then drop the
// pending count. The flush is deferred until the whole range is done, which
// is the window of the uffd-wp race fixed by 6ce64428d620 when the caller
// holds mmap_lock
// only for read (UFFDIO_WRITEPROTECT). It returns the number of PTEs
// changed.
//
// The hazard detector counts the operation in mm.revokeOps: a store through
// an entry it left stale is ordered before it until it returns.
func (v *VCPU) changeProtection(mm *MM, vma *VMA, start, end, newprot uint64, cpFlags int) int {
	m := v.m
	mm.revokeOps++
	mm.tlbFlushPending++ // inc_tlb_flush_pending
	v.traceFlushPending(mm)
	v.spend(m.cfg.Costs.LockedRMW)
	pages := 0
	for addr := start; addr < end; {
		if m.cfg.THP { // change_pmd_range: is_swap_pmd || pmd_trans_huge
			haddr := addr &^ (hpageSize - 1)
			if addr == haddr && end-addr >= hpageSize && newprot&tlb.PteP != 0 {
				if n := v.changeHugePMD(mm, haddr, newprot, cpFlags); n > 0 {
					pages += n
					addr = haddr + hpageSize
					continue
				}
			} else {
				v.splitHugePMD(mm, addr) // partial range or PROT_NONE
			}
		}
		pte, pt, next, ok := m.pteTable(mm, addr, end) // p?d_none_or_clear_bad: skip
		if ok {
			pages += v.changePTERange(vma, pte, pt, addr, next, newprot, cpFlags)
		}
		addr = next
	}
	if pages > 0 {
		v.flushTLBRange(mm, start, end)
	}
	mm.tlbFlushPending-- // dec_tlb_flush_pending, ordered after the flush
	v.traceFlushPending(mm)
	mm.revokeOps--
	return pages
}

// changePTERange models change_pte_range (v5.10) for one page table: under
// the PTL, ptep_modify_prot_start (xchg with 0), pte_modify with newprot,
// then for MM_CP_UFFD_WP write-protect and set _PAGE_UFFD_WP, for
// MM_CP_UFFD_WP_RESOLVE clear _PAGE_UFFD_WP and leave the write bit as
// pte_modify made it (read-only for private memory, as Nadav Amit's v4
// patch for 6ce64428d620 explains),
// ptep_modify_prot_commit. Swap entries are not modelled.
func (v *VCPU) changePTERange(vma *VMA, pte phys.Addr, pt phys.PFN, addr, end, newprot uint64, cpFlags int) int {
	m := v.m
	ptl := m.ptlOf(pt)
	v.spinLock(ptl)
	pages := 0
	for a := addr; a < end; a += 4096 {
		slot := pte + phys.Addr(((a-addr)>>12)*8)
		if !pteProtPresent(m.mem.LoadPTE(slot)) {
			continue
		}
		old := m.mem.SwapPTE(slot, 0) // ptep_modify_prot_start
		e := pteModify(old, newprot)
		switch {
		case cpFlags&mmCPUffdWP != 0:
			e = pteWrprotect(e) | tlb.PteUffdWP
		case cpFlags&mmCPUffdWPResolve != 0:
			e &^= tlb.PteUffdWP
		case cpFlags&mmCPTryChangeWritable != 0 && !pteWrite(e) && m.canChangePTEWritable(vma, e):
			e = pteMkwrite(e) // no write fault will follow
		}
		m.mem.StorePTE(slot, e) // ptep_modify_prot_commit
		pages++
		v.spend(m.cfg.Costs.PTEUpdate)
	}
	v.spinUnlock(ptl)
	return pages
}
