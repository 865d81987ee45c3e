package kernelmodel

import (
	"fmt"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// Hazard describes the first stale-TLB hazard of a run (-fail-on-hazard).
type Hazard struct {
	Kind string // counter name: emu_write_after_cow, emu_lost_soft_dirty, …
	CPU  int
	Addr uint64 // guest-virtual address stored to
	RIP  uint64 // the storing instruction
	Insn string // its disassembly
	PTE  uint64 // the PTE at the time of the store
	Path string // the kernel path that left the entry stale
}

func (h *Hazard) Error() string {
	return fmt.Sprintf("%s: cpu %d stored to %#x at rip %#x (%s) through a stale TLB entry (pte now %#x); left stale by %s",
		h.Kind, h.CPU, h.Addr, h.RIP, h.Insn, h.PTE, h.Path)
}

// onStaleWrite is the tlb.MMU hook: a store completed through a cached entry
// granting more than the current PTE. It classifies the store (DESIGN.md,
// "Correctness the emulator checks"):
//
//   - the frame is being COW-copied, or the PTE no longer maps it: the data
//     is lost (emu_write_after_cow);
//   - an operation that revoked the right is still in progress: the store is
//     ordered before it (emu_stale_tlb_writes_in_window, harmless);
//   - the PTE is uffd-wp protected: no uffd-wp fault was raised
//     (emu_missed_uffd_wp);
//   - the PTE is not soft-dirty: clear_refs returned and the write left no
//     soft-dirty mark (emu_lost_soft_dirty);
//   - otherwise a write to a write-protected page (emu_write_to_wrprotected).
func (v *VCPU) onStaleWrite(va tlb.VirtAddr, pfn phys.PFN, cur uint64, moved bool) {
	m := v.m
	var mm *MM
	if v.curr != nil {
		mm = v.curr.mm
	}
	// moved comes from the TLB, which compares the leaf with the entry at
	// the entry's page size: with -thp the leaf is a PMD whose PFN is the
	// huge page's head frame, while pfn is the 4 KiB frame of the store.
	var kind, path string
	switch {
	case m.pages[pfn].copying == 0 && m.pages[pfn].gathered > 0:
		// The frame was unmapped by a zap (munmap, MADV_DONTNEED) whose
		// mmu_gather has not yet flushed and freed it (tlb_flush_mmu,
		// v5.10 mm/mmu_gather.c): the store is ordered before that zap,
		// which discards the page, as MADV_DONTNEED allows for a store
		// racing with it, even when a refault (UFFDIO_COPY, a new
		// anonymous page) already mapped another frame there.
		m.staleInWindow++
		return
	case m.pages[pfn].copying > 0 || moved:
		m.writeAfterCOW++
		// One lost page copy per (old frame, nth COW copy of it): every
		// store through a stale entry to the frame after wp_page_copy
		// began copying it is missing from that copy.
		if k := (cowCopy{pfn, m.pages[pfn].copies}); !m.lostCOWSeen[k] {
			m.lostCOWSeen[k] = true
			m.lostCOWPages++
		}
		kind, path = "emu_write_after_cow", "wp_page_copy: cow_user_page copied the page before ptep_clear_flush's flush reached this CPU"
	case !ptePresent(cur) && mm != nil && (mm.tlbFlushPending > 0 || mm.movingPTEs > 0),
		ptePresent(cur) && mm != nil && mm.revokeOps > 0:
		// The operation that removed the right has not returned (a
		// munmap/MADV_DONTNEED zap with its mmu_gather pending; clear_refs,
		// mprotect or uffd-wp for a write-protected PTE): the store is
		// ordered before it.
		m.staleInWindow++
		return
	case !ptePresent(cur):
		m.writeAfterCOW++
		kind, path = "emu_write_after_cow", "a zap (munmap/MADV_DONTNEED) returned before its flush reached this CPU: the store went to a freed page"
	case pteUffdWP(cur):
		m.missedUffdWP++
		// One missed fault per (mm, page, UFFDIO_WRITEPROTECT epoch): the
		// first such store would have raised the fault, and the monitor
		// resolves it with the next ioctl.
		if mm != nil {
			if k := (uffdWPFault{mm, uint64(va) &^ 4095, mm.wpEpoch}); !m.lostUffdWPSeen[k] {
				m.lostUffdWPSeen[k] = true
				m.lostUffdWPFaults++
			}
		}
		kind, path = "emu_missed_uffd_wp", "mwriteprotect_range (UFFDIO_WRITEPROTECT) returned with the flush of a racing un-protect still deferred"
	case cur&tlb.PteSoftDirty == 0:
		m.lostSoftDirty++
		v.noteSoftDirtyStore(mm, uint64(va))
		kind, path = "emu_lost_soft_dirty", "clear_refs_write (v5.10: clear_soft_dirty write-protected the PTE and tlb_finish_mmu flushed nothing)"
	default:
		m.writeToWrprotected++
		kind, path = "emu_write_to_wrprotected", "a write-protect that returned without flushing"
	}
	v.traceStaleStore(kind, uint64(va), cur)
	if m.cfg.FailHazard && m.hazard == nil {
		m.hazard = &Hazard{Kind: kind, CPU: v.id, Addr: uint64(va), RIP: v.c.Regs.RIP, Insn: v.c.Disassemble(v.c.Regs.RIP), PTE: cur, Path: path}
		m.stop(fmt.Errorf("%w: %w", ErrHazard, m.hazard))
		panic(errStop{})
	}
}

// cowCopy names one COW copy of a frame: the frame and how many copies of
// it had begun (Page.copies) when the store was seen.
type cowCopy struct {
	pfn phys.PFN
	nth uint64
}

// uffdWPFault names one uffd-wp fault that should have been raised: the
// mm, the page and the mm's UFFDIO_WRITEPROTECT epoch (MM.wpEpoch).
type uffdWPFault struct {
	mm    *MM
	page  uint64
	epoch uint64
}
