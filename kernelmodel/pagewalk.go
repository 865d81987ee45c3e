package kernelmodel

import (
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// pteTable models the upper levels of the kernel's page-table range walks
// (walk_page_range, zap_p?d_range, change_p?d_range, copy_p?d_range): it
// returns the slot of addr's PTE and the frame of its page table, with next
// the end of the 2 MiB that table maps; or, when a PGD, PUD or PMD entry on
// the way is none (p?d_none_or_clear_bad), ok false and next the end of the
// region that entry covers, so that a walk over a sparse range skips it in
// one step. next is capped at end.
func (m *Machine) pteTable(mm *MM, addr, end uint64) (pte phys.Addr, pt phys.PFN, next uint64, ok bool) {
	table := mm.pgd
	for level := 4; level >= 2; level-- {
		e := m.mem.LoadPTE(table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(level)*8))
		if e&tlb.PteP == 0 || level == 2 && e&tlb.PtePS != 0 {
			// none, or a huge PMD (THP): callers split or handle huge
			// PMDs before walking, so skipping it is a safety net.
			return 0, 0, regionEnd(addr, 12+9*uint(level-1), end), false
		}
		table = ptePFN(e)
	}
	return table.Addr() + phys.Addr(tlb.VirtAddr(addr).Index(1)*8), table, regionEnd(addr, 21, end), true
}

// regionEnd returns the end of the naturally aligned 1<<shift region holding
// addr, capped at end (p?d_addr_end).
func regionEnd(addr uint64, shift uint, end uint64) uint64 {
	next := (addr | (1<<shift - 1)) + 1
	if next > end || next <= addr {
		return end
	}
	return next
}
